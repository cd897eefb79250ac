using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Dms.Platform.Testing;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Audit;

/// <summary>
/// Chains recorded audit events into their tenant's hash chain, many per transaction (ADR 0038). Runs on every node:
/// woken by the notification a recording transaction sends on commit when it saw no other event of its tenant pending
/// (<c>LISTEN dms_audit</c>, payload the tenant), it then keeps polling that tenant every 20 ms while events keep coming;
/// and every <c>Dms__Audit__ChainInterval</c> it asks the database which tenants still have events pending, so what a
/// crashed node, a rolled-back chaining or a lost notification left is chained by the next pass of any node. Two nodes
/// chaining one tenant take turns on its head row (inside <c>audit_chain</c>), so none is chained twice or skipped.
/// </summary>
internal sealed class AuditChainer(Db db, TenantDatabases tenants, DatabaseConnections connections, FaultInjection faults, IOptions<DmsOptions> options,
    ILogger<AuditChainer> logger) : BackgroundService
{
    public const string Channel = "dms_audit";

    private static readonly Histogram<double> Lag = DmsTelemetry.Meter.CreateHistogram("dms.audit.chain.lag", "s",
        "From an audit event being recorded to it being chained, per event", null,
        new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] });
    private static readonly Counter<long> Chained = DmsTelemetry.Meter.CreateCounter<long>("dms.audit.chained", null,
        "Audit events chained by this node");
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(30);

    private static long _backlog = -1;
    private static double _oldest;

    /// <summary>How often a tenant with recent events is chained again without being woken, and for how many empty polls.</summary>
    private static readonly TimeSpan HotPoll = TimeSpan.FromMilliseconds(20);
    private const int HotPolls = 10;

    private readonly ConcurrentDictionary<Guid, byte> _due = new();
    private readonly ConcurrentDictionary<Guid, int> _hot = new();
    private readonly SemaphoreSlim _wake = new(0, 1);

    static AuditChainer()
    {
        DmsTelemetry.Meter.CreateObservableGauge("dms.audit.unchained",
            () => Interlocked.Read(ref _backlog) is var n && n < 0 ? [] : new[] { new Measurement<long>(n) },
            "{event}", "Audit events recorded but not yet chained, as the last sweep on this node found them");
        DmsTelemetry.Meter.CreateObservableGauge("dms.audit.unchained_oldest_age",
            () => Interlocked.Read(ref _backlog) < 0 ? [] : new[] { new Measurement<double>(Volatile.Read(ref _oldest)) },
            "s", "Age of the oldest audit event not yet chained at the last sweep on this node (0 when none)");
    }

    private AuditOptions Settings => options.Value.Audit;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listening = ListenAsync(stoppingToken);
        var sweepEvery = Settings.ChainInterval;
        var lastSweep = long.MinValue;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    if (lastSweep == long.MinValue || Stopwatch.GetElapsedTime(lastSweep) >= sweepEvery)
                    {
                        lastSweep = Stopwatch.GetTimestamp();
                        await SweepAsync(stoppingToken);
                    }
                    await ChainDueAsync(stoppingToken);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
#pragma warning disable CA1031 // Database down or a failed batch: the events stay pending and the next sweep retries them.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    logger.LogWarning(ex, "Audit chaining failed; the events stay pending and are retried at the next sweep");
                }
                var untilSweep = sweepEvery - Stopwatch.GetElapsedTime(lastSweep);
                var pause = _hot.IsEmpty ? untilSweep : TimeSpan.FromTicks(Math.Min(untilSweep.Ticks, HotPoll.Ticks));
                try
                {
                    await _wake.WaitAsync(pause > TimeSpan.Zero ? pause : TimeSpan.Zero, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            await listening;
        }
    }

    /// <summary>Finds every tenant with pending events (and updates the backlog gauges) and marks it due.</summary>
    public async Task SweepAsync(CancellationToken ct)
    {
        // Every database that holds tenants (ADR 0036): a moved tenant's events are recorded in its own database. The
        // main database's stale copy of a moved tenant is left alone; its chainers listen on the main database only, so a
        // moved tenant's events are chained by this sweep and its hot polls (within ChainInterval).
        var movedAway = await tenants.MovedAwayAsync(ct);
        var pending = new List<(Guid Tenant, long Pending, double OldestSeconds)>();
        foreach (var source in await tenants.AllAsync(ct))
        {
            await using var c = await source.OpenConnectionAsync(ct);
            var found = await c.QueryAsync<(Guid Tenant, long Pending, double OldestSeconds)>(new CommandDefinition(
                "SELECT tenant_id, pending, oldest_seconds FROM audit_pending_tenants()", cancellationToken: ct));
            pending.AddRange(ReferenceEquals(source, tenants.Main) ? found.Where(e => !movedAway.Contains(e.Tenant)) : found);
        }
        Interlocked.Exchange(ref _backlog, pending.Sum(p => p.Pending));
        Volatile.Write(ref _oldest, pending.Count == 0 ? 0 : pending.Max(p => p.OldestSeconds));
        foreach (var p in pending)
        {
            _due.TryAdd(p.Tenant, 0);
        }
    }

    private async Task ChainDueAsync(CancellationToken ct)
    {
        foreach (var tenant in _due.Keys.Union(_hot.Keys).ToList())
        {
            // Taken off first: a notification arriving while the tenant is being chained marks it due again.
            _due.TryRemove(tenant, out _);
            try
            {
                // A tenant that is being written stays hot (polled every HotPoll) until it had nothing for a few polls:
                // its writers do not notify while they see events pending (audit_append), so this is what keeps the lag short.
                if (await ChainAsync(tenant, ct) > 0)
                {
                    _hot[tenant] = 0;
                }
                else if (_hot.TryGetValue(tenant, out var idle) && (idle >= HotPolls || !_hot.TryUpdate(tenant, idle + 1, idle)))
                {
                    _hot.TryRemove(tenant, out _);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Chaining the audit events of tenant {TenantId} failed; they stay pending and are retried at the next sweep", tenant);
            }
        }
    }

    /// <summary>Chains every event of <paramref name="tenant"/> pending now, a batch per transaction; returns how many.</summary>
    public async Task<int> ChainAsync(Guid tenant, CancellationToken ct)
    {
        var batch = Math.Clamp(Settings.ChainBatchSize, 1, 10_000);
        var total = 0;
        while (true)
        {
            var waited = await db.InTenantAsync(tenant, async (c, tx) =>
            {
                // Another chainer holds the head for milliseconds; anything longer (an operator's lock) must not stall
                // this node's chaining of every other tenant: give up and let a later sweep retry.
                await c.ExecuteAsync(new CommandDefinition("SET LOCAL lock_timeout = '5s'", transaction: tx, cancellationToken: ct));
                var rows = (await c.QueryAsync<double>(new CommandDefinition("SELECT waited_seconds FROM audit_chain(@batch)",
                    new { batch }, tx, cancellationToken: ct))).ToList();
                if (rows.Count > 0)
                {
                    faults.AuditBatchSealed(tenant, rows.Count);
                }
                return rows;
            }, ct);
            foreach (var seconds in waited)
            {
                Lag.Record(Math.Max(0, seconds));
            }
            Chained.Add(waited.Count);
            total += waited.Count;
            if (waited.Count < batch)
            {
                return total;
            }
        }
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Woken twice at once: one wake-up is enough.
            }
        }
    }

    /// <summary>
    /// <c>LISTEN dms_audit</c> on a direct, unpooled connection (session state, ADR 0034), reconnecting with a growing
    /// pause; after each (re)connect the next pass sweeps, as notifications sent meanwhile are lost.
    /// </summary>
    private async Task ListenAsync(CancellationToken ct)
    {
        var pause = FirstPause;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var builder = new NpgsqlConnectionStringBuilder(connections.Direct) { Pooling = false, ApplicationName = "dms-audit-chainer", KeepAlive = 15 };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(ct);
                connection.Notification += (_, e) =>
                {
                    if (Guid.TryParseExact(e.Payload, "N", out var tenant))
                    {
                        _due.TryAdd(tenant, 0);
                        Wake();
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }
                pause = FirstPause;
                while (!ct.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(TimeSpan.FromSeconds(30), ct))
                    {
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(ct);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A lost listening connection means: rely on the sweep and reconnect later, never stop the node.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                logger.LogWarning("The audit chainer's listener lost its connection ({Error}); the sweep every {Interval} s chains meanwhile (retry in {Pause} s).",
                    ex.Message, Settings.ChainInterval.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture),
                    pause.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture));
            }
            try
            {
                await Task.Delay(pause, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPause.Ticks));
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
