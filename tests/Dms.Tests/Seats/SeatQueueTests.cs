using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Seats;

/// <summary>
/// Requests waiting for the seat lock must not use up the connection pool (50 connections, a 5 s wait for one before a
/// 503): the test holds the tenant's seat lock itself for longer than that wait while 300 creates queue over three nodes.
/// None fails for want of a connection, the app keeps answering meanwhile, and after the release exactly one gets the seat.
/// </summary>
public sealed class SeatQueueTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Creates_queued_behind_a_held_seat_lock_hold_no_connections_and_one_gets_the_seat_after_it()
    {
        var app = await DmsApp.GetAsync();
        var tenant = await app.CreateTenantAsync();
        await app.GivePlanAsync(tenant, seats: 2);
        var nodes = await SeatNodes.ClientsAsync(tenant, tenant.Admin);

        await using var holder = new NpgsqlConnection(app.OwnerConnectionString);
        await holder.OpenAsync();
        await using var tx = await holder.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_xact_lock(7102, hashtext(@t))", holder, tx))
        {
            take.Parameters.AddWithValue("t", tenant.Id.ToString());
            await take.ExecuteNonQueryAsync();
        }

        var calls = Enumerable.Range(0, 300).Select(async i =>
        {
            using var response = await SeatSupport.CreateAsync(nodes[i % nodes.Count], SeatSupport.NewEmail($"q{i}"));
            return await SeatSupport.OutcomeAsync(response);
        }).ToList();

        // Wait until the requests reach the lock, then hold it past the pool's wait (Dms:Database:ConnectTimeout, 5 s).
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await WaitingOnSeatLockAsync(app, tenant.Id) == 0)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "no request reached the seat lock");
            await Task.Delay(50);
        }
        var held = Stopwatch.StartNew();
        while (held.Elapsed < TimeSpan.FromSeconds(7))
        {
            (await WaitingOnSeatLockAsync(app, tenant.Id)).ShouldBeLessThanOrEqualTo(nodes.Count, "one connection per node waits on the lock");
            using var meanwhile = await tenant.Admin.Client.GetAsync("/api/v1/users");
            await meanwhile.ShouldHaveStatusAsync(HttpStatusCode.OK);
            calls.Count(c => c.IsCompleted).ShouldBe(0, "nobody is answered while the lock is held");
            await Task.Delay(500);
        }
        await tx.CommitAsync();
        var answers = await Task.WhenAll(calls);
        output.WriteLine($"lock held {held.ElapsedMilliseconds} ms; answers: {string.Join(", ", answers.GroupBy(a => a).Select(g => $"{(int)g.Key.Status} {g.Key.Code} × {g.Count()}"))}");

        answers.Count(a => a.Status == HttpStatusCode.Created).ShouldBe(1);
        answers.Where(a => a.Status != HttpStatusCode.Created).Distinct().ShouldBe([(HttpStatusCode.PaymentRequired, "plan.seats_exhausted")]);
        var users = await tenant.Admin.Client.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/v1/users");
        users.GetProperty("items").GetArrayLength().ShouldBe(2);
    }

    private static async Task<long> WaitingOnSeatLockAsync(DmsApp app, Guid tenant)
    {
        await using var conn = new NpgsqlConnection(app.OwnerConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("""
            SELECT count(*) FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND classid = 7102 AND objid = hashtext(@t)::oid AND objsubid = 2
            """, conn);
        cmd.Parameters.AddWithValue("t", tenant.ToString());
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
