using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Dms.Platform.Outbox;
using Dms.Platform.Testing;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Outbox;

/// <summary>
/// A claim that committed but whose answer never reached the node (the database stopped in between; a CI run once left
/// four messages leased for minutes after an outage): once the database answers again the dispatcher hands back what is
/// still leased to it, so the message runs at once on its first counted attempt instead of after its lease, on its second.
/// </summary>
public sealed class LostClaimTests : IAsyncLifetime
{
    private readonly OrphanProbe _probe = new();
    private DmsApp _app = null!;

    public async Task InitializeAsync() =>
        _app = await DmsApp.CreateIsolatedAsync($"lostclaim_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["Dms:Testing:LoseOutboxClaimOfType"] = OrphanProbe.MessageType,
            // Long enough that waiting it out would fail the test's deadline by far.
            ["Dms:Outbox:LeaseDuration"] = "00:05:00",
        }, services => services.AddSingleton<IOutboxHandler>(_probe));

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_claim_whose_answer_was_lost_is_handed_back_and_runs_at_once_on_its_first_attempt()
    {
        var tenant = await _app.CreateTenantAsync();
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(_app.OwnerConnectionString);
        await conn.ExecuteAsync("INSERT INTO outbox_messages (id, tenant_id, type, payload) VALUES (@id, @tenant, @type, '{}'::jsonb)",
            new { id, tenant = tenant.Id, type = OrphanProbe.MessageType });

        var clock = Stopwatch.StartNew();
        while (!_probe.Handled.ContainsKey(id) && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
        }
        _app.Service<FaultInjection>().LostClaims.ShouldBe(1, "the claim's answer was thrown away once");
        _probe.Handled.TryGetValue(id, out var attempts).ShouldBeTrue($"handled within 30 s, not after its 5 min lease (waited {clock.Elapsed.TotalSeconds:F1} s)");
        attempts.ShouldBe(1, "the lost claim did not count an attempt");
        await WaitDoneAsync(conn, id);
        (await conn.QuerySingleAsync<(string, int)>("SELECT status, attempts FROM outbox_messages WHERE id = @id", new { id })).ShouldBe(("Done", 1));
    }

    private static async Task WaitDoneAsync(NpgsqlConnection conn, Guid id)
    {
        var clock = Stopwatch.StartNew();
        while (await conn.ExecuteScalarAsync<string>("SELECT status FROM outbox_messages WHERE id = @id", new { id }) != "Done"
            && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }
    }

    private sealed class OrphanProbe : IOutboxHandler
    {
        public const string MessageType = "test.orphan_probe";

        public ConcurrentDictionary<Guid, int> Handled { get; } = new();

        public string Type => MessageType;

        public Task HandleAsync(OutboxMessage message, CancellationToken ct)
        {
            Handled[message.Id] = message.Attempts;
            return Task.CompletedTask;
        }
    }
}
