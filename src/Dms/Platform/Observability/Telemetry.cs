using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Dms.Platform.Observability;

/// <summary>
/// DMS's own traces and metrics (ActivitySource and Meter <c>Dms</c>), exported by OpenTelemetry with the libraries'
/// (ASP.NET Core, HttpClient, Npgsql, the .NET runtime). docs/observability.md lists every name; label values are
/// bounded sets (message types, providers, operations, outcomes), never ids or tenants.
/// </summary>
internal static class DmsTelemetry
{
    public const string Name = "Dms";

    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    /// <summary>Buckets in seconds (OpenTelemetry's default ones are meant for milliseconds: every call would fall in the first).</summary>
    private static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    };

    public static readonly Histogram<double> OutboxHandlerDuration = Meter.CreateHistogram("dms.outbox.handler.duration", "s",
        "Time one outbox handler run took, by message type and outcome (done, retry, dead)", advice: Seconds);

    public static readonly Histogram<double> StorageDuration = Meter.CreateHistogram("dms.storage.operation.duration", "s",
        "Time one blob store call took, by provider, operation and outcome", advice: Seconds);

    public static readonly Counter<long> StorageErrors = Meter.CreateCounter<long>("dms.storage.errors", null,
        "Blob store calls that failed, by provider and operation");

    public static readonly Counter<long> UploadBytes = Meter.CreateCounter<long>("dms.upload.bytes", "By", "Bytes of content accepted, by kind (stream, direct)");

    public static readonly Counter<long> UploadSessions = Meter.CreateCounter<long>("dms.upload.sessions", null,
        "Direct-upload sessions by outcome (created, completed, failed, expired)");

    public static readonly Counter<long> SignInFailures = Meter.CreateCounter<long>("dms.auth.signin.failures", null,
        "Failed sign-ins by reason (bad_credentials, locked, disabled)");

    public static readonly Counter<long> CacheNotifications = Meter.CreateCounter<long>("dms.cache.notifications", null,
        "Cache invalidations received from the database (LISTEN dms_cache), by kind (account, subscription)");

    public static readonly Counter<long> CacheListenerReconnects = Meter.CreateCounter<long>("dms.cache.listener.reconnects", null,
        "Times the cache listener reconnected after losing its connection (each one clears the node's caches)");

    public static readonly Counter<long> Lockouts = Meter.CreateCounter<long>("dms.auth.lockouts", null, "Sign-in lockouts started");

    public static readonly Counter<long> ApprovalTransitions = Meter.CreateCounter<long>("dms.approvals.transitions", null,
        "Approval requests entering a state (Pending, Approved, Rejected, Cancelled, Expired, Executed, Failed), counted when the change is written");

    /// <summary>
    /// Reports every approval state at 0 from the start, so the first change into a state after a node starts is an
    /// increase Prometheus sees (a series that appears already at 1 shows no increase).
    /// </summary>
    public static void StartApprovalCounters(IEnumerable<string> statuses)
    {
        foreach (var status in statuses)
        {
            ApprovalTransitions.Add(0, new KeyValuePair<string, object?>("status", status));
        }
    }

    /// <summary>A request entered <paramref name="status"/> (its transaction may still roll back: a slight overcount at worst).</summary>
    public static void Approval(string status) => ApprovalTransitions.Add(1, new KeyValuePair<string, object?>("status", status));

    /// <summary>The key under which an outbox message carries the trace context of the transaction that wrote it.</summary>
    public const string TraceKey = "_trace";

    /// <summary>Records a blob store call: its duration, and an error when it threw.</summary>
    public static void Storage(string provider, string operation, long startedAt, bool ok)
    {
        var elapsed = Stopwatch.GetElapsedTime(startedAt).TotalSeconds;
        StorageDuration.Record(elapsed, new TagList { { "provider", provider }, { "operation", operation }, { "outcome", ok ? "ok" : "error" } });
        if (!ok)
        {
            StorageErrors.Add(1, new TagList { { "provider", provider }, { "operation", operation } });
        }
    }
}

/// <summary><c>dms_node_info{role, version}</c> = 1: which nodes run which role and build (dashboards, "node down").</summary>
internal static class NodeInfo
{
    private static string? _role;

    public static void Register(string role)
    {
        if (Interlocked.Exchange(ref _role, role) is not null)
        {
            return; // one gauge per process (test hosts run several apps)
        }
        var version = typeof(NodeInfo).Assembly.GetName().Version?.ToString() ?? "0";
        DmsTelemetry.Meter.CreateObservableGauge("dms.node.info", () => new Measurement<int>(1,
            new KeyValuePair<string, object?>("role", _role), new KeyValuePair<string, object?>("version", version)), null, "Always 1: the node's role and version");
    }
}
