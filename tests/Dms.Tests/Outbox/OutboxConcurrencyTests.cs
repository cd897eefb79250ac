using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Dms.Platform.Outbox;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Outbox;

/// <summary>
/// A test-only message type (<see cref="ProbeHandler"/>) on the default lane, in an app of its own with a concurrency of
/// <see cref="Concurrency"/>: it records when each message runs, so the tests see how many were in flight at once,
/// which ran side by side and how the dispatcher finished them (ADR 0040).
/// </summary>
public sealed class OutboxConcurrencyFixture : IAsyncLifetime
{
    public const int Concurrency = 4;

    internal ProbeHandler Probe { get; } = new();
    internal DmsApp App { get; private set; } = null!;
    internal TestTenant Tenant { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await DmsApp.CreateIsolatedAsync($"outbox_{Guid.NewGuid():N}"[..18], new Dictionary<string, string>
        {
            ["Dms:Outbox:Concurrency"] = Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, services => services.AddSingleton<IOutboxHandler>(Probe));
        Probe.OwnerConnectionString = App.OwnerConnectionString;
        Tenant = await App.CreateTenantAsync();
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

public sealed class OutboxConcurrencyTests(OutboxConcurrencyFixture fixture) : IClassFixture<OutboxConcurrencyFixture>
{
    private ProbeHandler Probe => fixture.Probe;

    [Fact]
    public async Task Messages_of_one_lane_run_concurrently_up_to_the_limit()
    {
        // Each message holds until Concurrency of them are in flight (or 5 s pass): a serial lane sees one at a time.
        var run = Guid.NewGuid().ToString("N");
        var ids = await EnqueueAsync(Enumerable.Range(0, 2 * OutboxConcurrencyFixture.Concurrency).Select(i => new ProbeMessage(run, i, Hold: true)).ToList());
        await WaitForAsync(ids, "Done");

        var runs = Probe.Runs(run);
        runs.Count.ShouldBe(ids.Count);
        MaxOverlap(runs).ShouldBe(OutboxConcurrencyFixture.Concurrency, "messages of one lane run side by side, never more than the limit");
    }

    [Fact]
    public async Task Messages_of_one_entity_never_overlap_and_run_in_order()
    {
        var run = Guid.NewGuid().ToString("N");
        var messages = Enumerable.Range(0, 12).Select(i => new ProbeMessage(run, i, Key: $"entity-{i % 3}", SleepMs: 100)).ToList();
        var ids = await EnqueueAsync(messages);
        await WaitForAsync(ids, "Done");

        var runs = Probe.Runs(run);
        runs.Count.ShouldBe(messages.Count);
        foreach (var entity in runs.GroupBy(r => r.Message.Key))
        {
            var ordered = entity.OrderBy(r => r.Started).ToList();
            ordered.Select(r => r.Message.Seq).ShouldBe(ordered.Select(r => r.Message.Seq).Order(), $"{entity.Key} runs in the order written");
            for (var i = 1; i < ordered.Count; i++)
            {
                ordered[i].Started.ShouldBeGreaterThanOrEqualTo(ordered[i - 1].Ended, $"two messages of {entity.Key} were in flight at once");
            }
        }
        MaxOverlap(runs).ShouldBeGreaterThan(1, "different entities still run side by side");
    }

    [Fact]
    public async Task Batch_completion_marks_exactly_the_handled_messages()
    {
        // In one claim: four that succeed, one that fails for good, one whose lease another node takes over while it runs.
        var run = Guid.NewGuid().ToString("N");
        var ids = await EnqueueAsync(
        [
            .. Enumerable.Range(0, 4).Select(i => new ProbeMessage(run, i)),
            new ProbeMessage(run, 4, Fail: true),
            new ProbeMessage(run, 5, Steal: true),
        ]);
        await WaitForAsync(ids[..4], "Done");
        await WaitForAsync([ids[4]], "Dead");
        // The stolen one ran (its handler took the lease away) and the pass that ran it is over once the others are Done.
        await WaitUntilAsync(() => Probe.Runs(run).Count == 6);

        var rows = await RowsAsync(ids);
        foreach (var id in ids[..4])
        {
            rows[id].Status.ShouldBe("Done");
            rows[id].LockedBy.ShouldBeNull();
            rows[id].ProcessedAt.ShouldNotBeNull();
        }
        rows[ids[4]].Status.ShouldBe("Dead", "a failed message is not marked done with the batch");
        rows[ids[4]].ProcessedAt.ShouldBeNull();
        rows[ids[5]].Status.ShouldBe("Processing", "a message another node holds is that node's to finish");
        rows[ids[5]].LockedBy.ShouldBe(ProbeHandler.OtherNode);
        rows[ids[5]].ProcessedAt.ShouldBeNull();
    }

    /// <summary>The most runs in flight at one moment.</summary>
    private static int MaxOverlap(IReadOnlyList<ProbeRun> runs) =>
        runs.SelectMany(r => new[] { (At: r.Started, Delta: 1), (At: r.Ended, Delta: -1) })
            .OrderBy(e => e.At).ThenBy(e => e.Delta)
            .Aggregate((Now: 0, Max: 0), (acc, e) => (acc.Now + e.Delta, Math.Max(acc.Max, acc.Now + e.Delta))).Max;

    /// <summary>Writes the messages in one transaction, so one claim takes them all.</summary>
    private async Task<List<Guid>> EnqueueAsync(List<ProbeMessage> messages)
    {
        // A claim orders messages written together by id; version 7 ids made within one millisecond are not monotonic, so
        // they are sorted as PostgreSQL sorts uuids (their text) to make "the order written" the order of the list.
        var ids = messages.Select(_ => Guid.CreateVersion7()).OrderBy(id => id.ToString(), StringComparer.Ordinal).ToList();
        await using var conn = await OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await SetTenantAsync(conn, tx);
        for (var i = 0; i < messages.Count; i++)
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO outbox_messages (id, tenant_id, type, payload) VALUES (@id, @tenant, @type, @payload::jsonb)", conn, tx);
            insert.Parameters.AddWithValue("id", ids[i]);
            insert.Parameters.AddWithValue("tenant", fixture.Tenant.Id);
            insert.Parameters.AddWithValue("type", ProbeHandler.MessageType);
            insert.Parameters.AddWithValue("payload", JsonSerializer.Serialize(messages[i], Platform.Outbox.Outbox.Json));
            await insert.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
        return ids;
    }

    private async Task WaitForAsync(IReadOnlyList<Guid> ids, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        Dictionary<Guid, Row> rows;
        while ((rows = await RowsAsync(ids)).Values.Any(r => r.Status != status) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        rows.Values.Select(r => r.Status).ShouldAllBe(s => s == status);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        condition().ShouldBeTrue();
    }

    private sealed record Row(string Status, string? LockedBy, DateTime? ProcessedAt);

    private async Task<Dictionary<Guid, Row>> RowsAsync(IReadOnlyList<Guid> ids)
    {
        await using var conn = await OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await SetTenantAsync(conn, tx);
        await using var select = new NpgsqlCommand("SELECT id, status::text, locked_by, processed_at FROM outbox_messages WHERE id = ANY(@ids)", conn, tx);
        select.Parameters.AddWithValue("ids", ids.ToArray());
        var rows = new Dictionary<Guid, Row>();
        await using var reader = await select.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetGuid(0)] = new Row(reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetDateTime(3));
        }
        rows.Count.ShouldBe(ids.Count);
        return rows;
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var conn = new NpgsqlConnection(fixture.App.OwnerConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    private async Task SetTenantAsync(NpgsqlConnection conn, NpgsqlTransaction tx)
    {
        await using var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{fixture.Tenant.Id}', true)", conn, tx);
        await set.ExecuteNonQueryAsync();
    }
}

/// <summary>What a probe message asks its handler to do.</summary>
internal sealed record ProbeMessage(string Run, int Seq, string? Key = null, bool Hold = false, int SleepMs = 20, bool Fail = false, bool Steal = false);

internal sealed record ProbeRun(ProbeMessage Message, long Started, long Ended);

/// <summary>A test-only handler: records each run's start and end, and can hold, fail or lose its lease on request.</summary>
internal sealed class ProbeHandler : IOutboxHandler
{
    public const string MessageType = "test.probe";
    public const string OtherNode = "another-node";

    private readonly ConcurrentBag<ProbeRun> _runs = [];
    private int _inFlight;

    public string OwnerConnectionString { get; set; } = "";

    public string Type => MessageType;

    public string? OrderKey(OutboxMessage message) => message.Read<ProbeMessage>().Key;

    public IReadOnlyList<ProbeRun> Runs(string run) => [.. _runs.Where(r => r.Message.Run == run)];

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var probe = message.Read<ProbeMessage>();
        var started = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _inFlight);
        try
        {
            if (probe.Hold)
            {
                var until = DateTime.UtcNow.AddSeconds(5);
                while (Volatile.Read(ref _inFlight) < OutboxConcurrencyFixture.Concurrency && DateTime.UtcNow < until)
                {
                    await Task.Delay(10, ct);
                }
                // Let the others of this wave see the full count too before anyone leaves.
                await Task.Delay(50, ct);
            }
            else
            {
                await Task.Delay(probe.SleepMs, ct);
            }
            if (probe.Steal)
            {
                // As if this node's lease ran out and another node claimed the message meanwhile.
                await using var conn = new NpgsqlConnection(OwnerConnectionString);
                await conn.OpenAsync(ct);
                await using var tx = await conn.BeginTransactionAsync(ct);
                await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{message.TenantId}', true)", conn, tx))
                {
                    await set.ExecuteNonQueryAsync(ct);
                }
                await using var steal = new NpgsqlCommand(
                    "UPDATE outbox_messages SET locked_by = @other, locked_until = now() + interval '1 hour' WHERE id = @id", conn, tx);
                steal.Parameters.AddWithValue("other", OtherNode);
                steal.Parameters.AddWithValue("id", message.Id);
                await steal.ExecuteNonQueryAsync(ct);
                await tx.CommitAsync(ct);
            }
            if (probe.Fail)
            {
                throw new PermanentOutboxFailure("The probe was told to fail.");
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _runs.Add(new ProbeRun(probe, started, Stopwatch.GetTimestamp()));
        }
    }
}
