using System.Diagnostics;
using System.Net;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Seats;

/// <summary>
/// Issue 17, "1,000 parallel requests for the last seat → exactly one 201; 10 trials". One tenant whose plan has two seats
/// (the admin's and the one raced for); after each trial the winner is disabled, which frees the seat for the next one.
/// The requests are spread over three nodes of the app (<see cref="SeatNodes"/>): only the database lock serialises them.
/// </summary>
public sealed class SeatRaceTests(ITestOutputHelper output)
{
    private const int Trials = 10;
    private const int Racers = 1000;

    [Fact]
    public async Task A_thousand_parallel_creates_for_the_last_seat_grant_it_exactly_once_in_each_of_ten_trials()
    {
        var app = await DmsApp.GetAsync();
        var tenant = await app.CreateTenantAsync();
        await app.GivePlanAsync(tenant, seats: 2);
        var nodes = await SeatNodes.ClientsAsync(tenant, tenant.Admin);
        var winners = new List<Guid>();

        for (var trial = 0; trial < Trials; trial++)
        {
            var clock = Stopwatch.StartNew();
            using var start = new SemaphoreSlim(0);
            var calls = Enumerable.Range(0, Racers).Select(async i =>
            {
                await start.WaitAsync();
                using var response = await SeatSupport.CreateAsync(nodes[i % nodes.Count], SeatSupport.NewEmail($"r{trial}-{i}"));
                var (status, code) = await SeatSupport.OutcomeAsync(response);
                return (Status: status, Code: code, Id: status == HttpStatusCode.Created ? (await response.JsonAsync()).GetProperty("id").GetGuid() : Guid.Empty);
            }).ToList();
            start.Release(Racers);
            var answers = await Task.WhenAll(calls);

            var created = answers.Where(a => a.Status == HttpStatusCode.Created).ToList();
            var refused = answers.Where(a => a.Status != HttpStatusCode.Created).ToList();
            created.Count.ShouldBe(1, $"trial {trial}: exactly one request gets the last seat");
            refused.Select(a => (a.Status, a.Code)).Distinct().ShouldBe([(HttpStatusCode.PaymentRequired, "plan.seats_exhausted")],
                $"trial {trial}: every other request is refused for want of a seat");
            (await SeatSupport.EnabledInDatabaseAsync(app, tenant.Id)).ShouldBe(2L, $"trial {trial}: the admin and the winner");
            output.WriteLine($"trial {trial}: {Racers} requests answered in {clock.ElapsedMilliseconds} ms");

            winners.Add(created[0].Id);
            await SeatSupport.SetDisabledAsync(tenant, created[0].Id, disabled: true);
        }

        // Nothing of the refused requests was stored: the admin and the ten (now disabled) winners.
        (await SeatSupport.EnabledInDatabaseAsync(app, tenant.Id, "true")).ShouldBe(1L + Trials);
        (await SeatSupport.EnabledInDatabaseAsync(app, tenant.Id, $"id IN ({string.Join(", ", winners.Select(w => $"'{w}'"))}) AND disabled"))
            .ShouldBe(Trials);
    }
}
