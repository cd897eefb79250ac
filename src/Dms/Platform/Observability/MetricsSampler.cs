using System.Diagnostics.Metrics;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Platform.Observability;

/// <summary>
/// The gauges read from the database (outbox backlog, oldest pending age, dead messages, extraction backlog), sampled every <c>Dms__Metrics__SampleInterval</c> by nodes that run background work, so a scrape never
/// waits for a query. API-only nodes do not report them (dashboards take the max over nodes).
/// </summary>
internal sealed class MetricsSampler : BackgroundService
{
    private readonly TenantDatabases _databases;
    private readonly DmsOptions _options;
    private readonly ILogger<MetricsSampler> _logger;
    private readonly Dictionary<string, OutboxLane> _lanes;

    // One process runs one app: the gauges are created once and report the last sample taken (test hosts run several
    // apps in one process; the one that sampled last is the one reported).
    private static volatile Snapshot _latest = new([], new Dictionary<string, OutboxLane>());

    private sealed record Snapshot(IReadOnlyList<(string Metric, string Label, double Value)> Rows, IReadOnlyDictionary<string, OutboxLane> Lanes);

    static MetricsSampler()
    {
        var meter = DmsTelemetry.Meter;
        meter.CreateObservableGauge("dms.outbox.backlog", () => Measure("outbox_backlog", "type", withLane: true), "{message}",
            "Outbox messages pending or being processed, by type and lane");
        meter.CreateObservableGauge("dms.outbox.oldest_pending_age", OldestByLane, "s", "Age of the oldest pending outbox message, by lane (0 when none)");
        meter.CreateObservableGauge("dms.outbox.dead", () => Measure("outbox_dead", "type", withLane: false), "{message}", "Dead outbox messages, by type");
        meter.CreateObservableGauge("dms.extraction.backlog", () => new Measurement<double>(
            _latest.Rows.Where(m => m.Metric == "outbox_backlog" && m.Label == ExtractionType).Sum(m => m.Value)), "{version}", "Versions waiting for text extraction");
    }

    public MetricsSampler(TenantDatabases databases, IOptions<DmsOptions> options, IEnumerable<IOutboxHandler> handlers, ILogger<MetricsSampler> logger)
    {
        _databases = databases;
        _options = options.Value;
        _logger = logger;
        _lanes = handlers.GroupBy(h => h.Type).ToDictionary(g => g.Key, g => g.First().Lane);
    }

    /// <summary>The outbox type of text extraction (Documents' handler), reported on its own as the extraction backlog.</summary>
    internal const string ExtractionType = "document.extract_text";

    /// <summary>Reads the snapshot now and returns it (tests; the loop below otherwise).</summary>
    /// <remarks>
    /// Every database that holds tenants is sampled (a moved tenant's outbox lives in its own database, ADR 0036) and the
    /// rows added up: counts summed, ages the oldest. A tenant database that cannot be read is left out of this sample and
    /// logged; only the main database failing keeps the last sample whole.
    /// </remarks>
    public async Task<IReadOnlyList<(string Metric, string Label, double Value)>> SampleAsync(CancellationToken ct)
    {
        var rows = new List<(string Metric, string Label, double Value)>();
        var first = true;
        foreach (var source in await _databases.AllAsync(ct))
        {
            try
            {
                await using var conn = await source.OpenConnectionAsync(ct);
                rows.AddRange(await conn.QueryAsync<(string, string, double)>(new CommandDefinition(
                    "SELECT metric, label, value FROM dms_metrics_snapshot()", cancellationToken: ct)));
            }
            catch (Exception ex) when (!first && ex is not OperationCanceledException)
            {
                _logger.LogWarning(ex, "Metrics sample of tenant database {Database} failed; its outbox is left out of this sample", new NpgsqlConnectionStringBuilder(source.ConnectionString).Database);
            }
            first = false;
        }
        var sample = new Snapshot([.. rows.GroupBy(r => (r.Metric, r.Label)).Select(g => (g.Key.Metric, g.Key.Label,
            g.Key.Metric == "outbox_oldest_pending_age" ? g.Max(r => r.Value) : g.Sum(r => r.Value)))], _lanes);
        _latest = sample;
        return sample.Rows;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.Metrics.SampleInterval);
        do
        {
            try
            {
                await SampleAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The gauges keep their last values; the database being away shows in its own metrics and health.
                _logger.LogDebug(ex, "Metrics sample failed; keeping the last one");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One series per message type the node handles (0 when it has none), plus any other type the database holds.</summary>
    private static IEnumerable<Measurement<double>> Measure(string metric, string labelName, bool withLane)
    {
        var snapshot = _latest;
        var values = snapshot.Rows.Where(m => m.Metric == metric).ToDictionary(m => m.Label, m => m.Value);
        return snapshot.Lanes.Keys.Union(values.Keys).Select(type => withLane
            ? new Measurement<double>(values.GetValueOrDefault(type), new KeyValuePair<string, object?>(labelName, type), new KeyValuePair<string, object?>("lane", LaneOf(snapshot, type)))
            : new Measurement<double>(values.GetValueOrDefault(type), new KeyValuePair<string, object?>(labelName, type)));
    }

    private static IEnumerable<Measurement<double>> OldestByLane()
    {
        var snapshot = _latest;
        var oldest = snapshot.Rows.Where(m => m.Metric == "outbox_oldest_pending_age").GroupBy(m => LaneOf(snapshot, m.Label))
            .ToDictionary(g => g.Key, g => g.Max(m => m.Value));
        return Enum.GetValues<OutboxLane>().Select(lane => new Measurement<double>(oldest.GetValueOrDefault(lane.ToString().ToLowerInvariant()),
            new KeyValuePair<string, object?>("lane", lane.ToString().ToLowerInvariant())));
    }

    private static string LaneOf(Snapshot snapshot, string type) =>
        (snapshot.Lanes.TryGetValue(type, out var lane) ? lane : OutboxLane.Default).ToString().ToLowerInvariant();
}
