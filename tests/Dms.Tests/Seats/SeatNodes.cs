using System.Net.Http.Headers;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Dms.Tests.Seats;

/// <summary>
/// Two more nodes of the shared app: same database, same data folder (so the same signing key), as a cluster of three
/// would run. Seat-taking is queued per node before the database lock (SeatGate), so on one node the in-process queue
/// alone would hide a missing database lock; the race and mix tests spread their requests over all three nodes so that
/// only the database lock can keep them exact.
/// </summary>
internal static class SeatNodes
{
    private static readonly Lazy<Task<IReadOnlyList<WebApplicationFactory<Program>>>> Others = new(async () =>
    {
        var app = await DmsApp.GetAsync();
        return Enumerable.Range(0, 2).Select(n =>
        {
            var node = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
            {
                // API only: the shared app's tests set up its outbox, webhooks and mail (fault injection, receivers on
                // localhost); a node running background work with other settings would take their messages.
                builder.UseSetting("Dms:Role", "api");
                // Through the shared app's PgBouncer when the suite runs behind one (DMS_TEST_PGBOUNCER=1, ADR 0034).
                builder.UseSetting("ConnectionStrings:Dms", app.Bouncer?.Through(app.AppConnectionString) ?? app.AppConnectionString);
                builder.UseSetting("ConnectionStrings:DmsDirect", app.AppConnectionString);
                builder.UseSetting("ConnectionStrings:DmsOwner", app.OwnerConnectionString);
                builder.UseSetting("Dms:DataDirectory", app.DataDirectory);
                builder.UseSetting("Dms:Platform:ApiKey", DmsApp.PlatformKey);
                builder.UseSetting("Dms:Previews:Enabled", "false");
                builder.UseSetting("Dms:Metrics:SampleInterval", "01:00:00");
                builder.UseSetting("Logging:LogLevel:Default", "Warning");
            });
            _ = node.Server;
            var background = node.Services.GetServices<IHostedService>().Select(h => h.GetType().Name).Where(n => n.Contains("Outbox", StringComparison.Ordinal)).ToList();
            if (background.Count > 0)
            {
                throw new InvalidOperationException($"The extra node runs background work ({string.Join(", ", background)}): it must be API only.");
            }
            return node;
        }).ToList();
    });

    /// <summary>A client per node (the shared app first) acting with <paramref name="who"/>'s access token.</summary>
    public static async Task<IReadOnlyList<HttpClient>> ClientsAsync(TestTenant tenant, SignedIn who)
    {
        var clients = new List<HttpClient> { tenant.App.ClientWithToken(who.Tokens.AccessToken) };
        foreach (var node in await Others.Value)
        {
            var client = node.CreateClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", who.Tokens.AccessToken);
            clients.Add(client);
        }
        return clients;
    }
}
