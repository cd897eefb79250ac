using System.Diagnostics;
using System.Diagnostics.Metrics;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Observability;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// The streaming replica of the main database (<c>ConnectionStrings__DmsReplica</c>, ADR 0035) and what this node knows
/// about it: how far it has replayed, how far behind the primary it is, and whether it is healthy. A replica that fails a
/// connection or times out is skipped for <see cref="ReplicaOptions.UnhealthyFor"/> (or until the lag sampler reaches it
/// again): every read it would have served runs on the primary instead, so a replica outage never fails a request.
/// </summary>
internal sealed class ReplicaDatabase : IAsyncDisposable
{
    private readonly DatabaseConnections _connections;
    private readonly string? _configured;
    private readonly ReplicaOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<ReplicaDatabase> _logger;
    private readonly Lock _gate = new();
    private NpgsqlDataSource? _source;
    private long _downUntil;
    private long _replayed;
    private double? _lagSeconds;
    private long? _lagBytes;

    public ReplicaDatabase(IConfiguration configuration, DatabaseConnections connections, IOptions<DmsOptions> options, TimeProvider clock, ILogger<ReplicaDatabase> logger)
    {
        _connections = connections;
        _configured = configuration.GetConnectionString("DmsReplica") is { Length: > 0 } s && !string.IsNullOrWhiteSpace(s) ? s : null;
        _options = options.Value.Replica;
        _clock = clock;
        _logger = logger;
        if (_configured is not null)
        {
            ReplicaMetrics.Current = this;
        }
    }

    public bool IsConfigured => _configured is not null;

    public ReplicaOptions Options => _options;

    /// <summary>
    /// The replica's data source, as the runtime role: the string's own user, password and database, else those of
    /// <c>ConnectionStrings__Dms</c>. Built on first use, after start-up has settled the main connection string.
    /// </summary>
    public NpgsqlDataSource Source
    {
        get
        {
            if (_source is { } built)
            {
                return built;
            }
            lock (_gate)
            {
                return _source ??= Build();
            }
        }
    }

    private NpgsqlDataSource Build()
    {
        var replica = new NpgsqlConnectionStringBuilder(_configured ?? throw new InvalidOperationException("No replica is configured."));
        var main = new NpgsqlConnectionStringBuilder(_connections.App);
        if (string.IsNullOrEmpty(replica.Username))
        {
            replica.Username = main.Username;
            replica.Password ??= main.Password;
        }
        replica.Database ??= main.Database;
        replica.Timeout = Math.Max(1, (int)Math.Ceiling(_options.ConnectTimeout.TotalSeconds));
        replica.CommandTimeout = Math.Max(1, (int)Math.Ceiling(_options.CommandTimeout.TotalSeconds));
        return new NpgsqlDataSourceBuilder(replica.ConnectionString) { Name = "dms-replica" }.Build();
    }

    /// <summary>False for <see cref="ReplicaOptions.UnhealthyFor"/> after a failure on the replica.</summary>
    public bool IsHealthy => _clock.GetTimestamp() >= Interlocked.Read(ref _downUntil);

    /// <summary>Seconds the replica is behind the primary as last sampled; null before the first sample or while it is unreachable.</summary>
    public double? LagSeconds => _lagSeconds;

    public long? LagBytes => _lagBytes;

    /// <summary>The furthest WAL position this node has seen the replica replay.</summary>
    public ulong Replayed => (ulong)Interlocked.Read(ref _replayed);

    /// <summary>A connection failure or timeout on the replica: reads skip it for a while, and its pooled connections are dropped.</summary>
    public void MarkDown(Exception failure)
    {
        var until = _clock.GetTimestamp() + (long)(_options.UnhealthyFor.TotalSeconds * _clock.TimestampFrequency);
        if (Interlocked.Exchange(ref _downUntil, until) <= _clock.GetTimestamp())
        {
            _logger.LogWarning("Read replica unavailable ({Error}): reads go to the primary for {Seconds} s", failure.Message, _options.UnhealthyFor.TotalSeconds);
        }
        _lagSeconds = null;
        _lagBytes = null;
        // The replica that comes back may be another one (rebuilt, replaced) that has replayed less: learn it again.
        Interlocked.Exchange(ref _replayed, 0);
        // Every pooled connection to a replica that went away is dead: without this each would fail one more read.
        _source?.Clear();
    }

    private void MarkUp()
    {
        if (Interlocked.Exchange(ref _downUntil, 0) > _clock.GetTimestamp())
        {
            _logger.LogInformation("Read replica reachable again: reads go back to it");
        }
    }

    /// <summary>A replica failure that a read on the primary gets round: the replica is gone, refuses, lags in a conflict, or is read-only where a write slipped in.</summary>
    public static bool IsReplicaFailure(Exception ex) => ex switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("57", StringComparison.Ordinal) ||
            pg.SqlState.StartsWith("53", StringComparison.Ordinal) || pg.SqlState is PostgresErrorCodes.ReadOnlySqlTransaction or PostgresErrorCodes.SerializationFailure
            or PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification or PostgresErrorCodes.InvalidCatalogName,
        NpgsqlException => true,
        TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// Whether the replica has replayed up to <paramref name="token"/>, asking it every few milliseconds for up to
    /// <see cref="ReplicaOptions.MaxWaitMs"/>. A failure to ask marks it down and answers false.
    /// </summary>
    public async Task<bool> ReplayedAtLeastAsync(ulong token, CancellationToken ct)
    {
        if (Replayed >= token)
        {
            return true;
        }
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxWaitMs / 1000.0 * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                await using var conn = await Source.OpenConnectionAsync(ct);
                if (await ReadReplayAsync(conn, ct) >= token)
                {
                    return true;
                }
            }
            catch (Exception ex) when (IsReplicaFailure(ex) && !ct.IsCancellationRequested)
            {
                MarkDown(ex);
                return false;
            }
            if (Stopwatch.GetTimestamp() >= deadline)
            {
                return false;
            }
            await Task.Delay(10, ct);
        }
    }

    private async Task<ulong> ReadReplayAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        // Null when the server is not in recovery: a promoted or wrongly configured "replica" is no replica.
        var replayed = await conn.ExecuteScalarAsync<long?>(new CommandDefinition("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint", cancellationToken: ct))
            ?? throw new NpgsqlException("The replica is not in recovery (pg_last_wal_replay_lsn() is null).");
        Advance(replayed);
        return (ulong)replayed;
    }

    private void Advance(long replayed)
    {
        var seen = Interlocked.Read(ref _replayed);
        while (replayed > seen)
        {
            var was = Interlocked.CompareExchange(ref _replayed, replayed, seen);
            if (was == seen)
            {
                return;
            }
            seen = was;
        }
    }

    /// <summary>The primary's WAL positions sampled while the replica had not replayed them yet, oldest first (for the lag in seconds).</summary>
    private readonly Queue<(long At, long Lsn)> _unreplayed = new();

    /// <summary>
    /// One sample: the primary's current WAL position and the replica's replay position. The lag in seconds is how long
    /// ago the oldest primary position the replica has not replayed was sampled, measured on this node's monotonic clock
    /// (so it is 0 on an idle system, unlike <c>now() - pg_last_xact_replay_timestamp()</c>, and needs no synchronised clocks).
    /// </summary>
    public async Task SampleAsync(NpgsqlDataSource primary, CancellationToken ct)
    {
        long primaryLsn;
        await using (var conn = await primary.OpenConnectionAsync(ct))
        {
            primaryLsn = await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", cancellationToken: ct));
        }
        var now = Stopwatch.GetTimestamp();
        ulong replayed;
        try
        {
            await using var conn = await Source.OpenConnectionAsync(ct);
            replayed = await ReadReplayAsync(conn, ct);
        }
        catch (Exception ex) when (IsReplicaFailure(ex) && !ct.IsCancellationRequested)
        {
            MarkDown(ex);
            lock (_unreplayed)
            {
                _unreplayed.Clear();
            }
            return;
        }
        MarkUp();
        lock (_unreplayed)
        {
            _unreplayed.Enqueue((now, primaryLsn));
            while (_unreplayed.Count > 0 && (ulong)_unreplayed.Peek().Lsn <= replayed)
            {
                _unreplayed.Dequeue();
            }
            while (_unreplayed.Count > 4096)
            {
                _unreplayed.Dequeue();
            }
            _lagSeconds = _unreplayed.Count == 0 ? 0 : Stopwatch.GetElapsedTime(_unreplayed.Peek().At).TotalSeconds;
        }
        _lagBytes = Math.Max(0, primaryLsn - (long)replayed);
    }

    public ValueTask DisposeAsync()
    {
        if (ReferenceEquals(ReplicaMetrics.Current, this))
        {
            ReplicaMetrics.Current = null;
        }
        return _source?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}

/// <summary>Samples the replica's lag every <see cref="ReplicaOptions.SampleInterval"/> on every node that has one configured.</summary>
internal sealed class ReplicaMonitor(ReplicaDatabase replica, NpgsqlDataSource primary, ILogger<ReplicaMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!replica.IsConfigured)
        {
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await replica.SampleAsync(primary, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                // The primary itself is unreachable: requests say so on their own; the next sample tries again.
                logger.LogDebug(ex, "Replica lag sample failed on the primary");
            }
            try
            {
                // In short steps, re-reading the interval: a test slows the sampler down to meet a replica failure in a read.
                var slept = Stopwatch.StartNew();
                while (slept.Elapsed < replica.Options.SampleInterval)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(250, Math.Max(1, (replica.Options.SampleInterval - slept.Elapsed).TotalMilliseconds))), stoppingToken);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

/// <summary>
/// The replica's metrics (docs/observability.md): <c>dms.db.replica.lag</c> (s), <c>dms.db.replica.lag_bytes</c>,
/// <c>dms.db.replica.up</c> and <c>dms.db.reads</c> by target and, for the primary, the reason. Reported only on a
/// node with a replica configured (the gauges are process-wide, like the other database gauges).
/// </summary>
internal static class ReplicaMetrics
{
    public static ReplicaDatabase? Current { get; set; }

    private static readonly Counter<long> Reads = DmsTelemetry.Meter.CreateCounter<long>("dms.db.reads", null,
        "Tenant reads of GET/HEAD requests on a node with a read replica, by target (replica, primary) and, on the primary, why (token, lag, down)");

    static ReplicaMetrics()
    {
        DmsTelemetry.Meter.CreateObservableGauge("dms.db.replica.lag",
            () => Current?.LagSeconds is { } s ? new[] { new Measurement<double>(s) } : [], "s", "Seconds the read replica is behind the primary (sampled)");
        DmsTelemetry.Meter.CreateObservableGauge("dms.db.replica.lag_bytes",
            () => Current?.LagBytes is { } b ? new[] { new Measurement<long>(b) } : [], "By", "Bytes of WAL the read replica has not replayed yet (sampled)");
        DmsTelemetry.Meter.CreateObservableGauge("dms.db.replica.up",
            () => Current is { } r ? new[] { new Measurement<int>(r.IsHealthy && r.LagSeconds is not null ? 1 : 0) } : [], null,
            "1 when the read replica answered its last sample, 0 while reads skip it");
    }

    public static void OnReplica() => Reads.Add(1, new KeyValuePair<string, object?>("target", "replica"));

    public static void OnPrimary(string reason) =>
        Reads.Add(1, new KeyValuePair<string, object?>("target", "primary"), new KeyValuePair<string, object?>("reason", reason));
}
