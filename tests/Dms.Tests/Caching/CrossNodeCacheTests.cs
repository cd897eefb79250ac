using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dms.Platform.Caching;
using Dms.Tests.Billing;
using Dms.Tests.Infrastructure;
using Dms.Tests.Sharing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Caching;

/// <summary>
/// Issue 18, item 5 (ADR 0033): a change made on node A reaches node B's caches through LISTEN/NOTIFY within a second.
/// Node A is the billing app (role all, webhook secret set); node B is an API-only node on the same database whose caches
/// live for 60 s, so only a notification (or the listener's clear after a reconnect) can explain a refusal in time. The
/// two nodes share nothing in process: AccountChanges and SubscriptionCache are per-app singletons.
/// </summary>
public sealed class CrossNodeCacheTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(1);

    private static readonly Lazy<Task<WebApplicationFactory<Program>>> NodeB = new(async () =>
    {
        var app = await BillingSupport.AppAsync();
        var node = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Dms:Role", "api");
            builder.UseSetting("ConnectionStrings:Dms", app.AppConnectionString);
            builder.UseSetting("ConnectionStrings:DmsOwner", app.OwnerConnectionString);
            builder.UseSetting("Dms:DataDirectory", app.DataDirectory);
            builder.UseSetting("Dms:Platform:ApiKey", DmsApp.PlatformKey);
            builder.UseSetting("Dms:Billing:WebhookSecret", BillingSupport.Secret);
            builder.UseSetting("Dms:Previews:Enabled", "false");
            builder.UseSetting("Dms:Metrics:SampleInterval", "01:00:00");
            builder.UseSetting("Logging:LogLevel:Default", "Warning");
            // Far longer than the deadlines below: a cache's own expiry cannot pass for an invalidation.
            builder.UseSetting("Dms:Security:AccountCheckCacheSeconds", "60");
            builder.UseSetting("Dms:Billing:StateCacheDuration", "00:01:00");
        });
        _ = node.Server;
        await WaitConnectedAsync(node.Services.GetRequiredService<CacheListener>(), 1, TimeSpan.FromSeconds(30));
        return node;
    });

    [Fact]
    public async Task A_user_disabled_on_node_A_is_refused_on_node_B_within_a_second()
    {
        var tenant = await BillingSupport.TenantOnPlanAsync();
        var member = await tenant.CreateUserAsync("Member");
        using var onB = await ClientOnBAsync(member);
        // Warm both nodes' account checks.
        (await member.Client.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await onB.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await onB.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using (var disable = await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{member.UserId}", new { disabled = true }))
        {
            await disable.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        var latency = await PollUntilAsync(async () => (await onB.GetAsync("/api/v1/documents")).StatusCode == HttpStatusCode.Unauthorized);
        output.WriteLine($"node B refused the disabled user after {latency.TotalMilliseconds:0} ms");
        latency.ShouldBeLessThan(Deadline);
    }

    [Fact]
    public async Task A_subscription_paused_on_node_A_closes_node_B_s_write_gate_within_a_second()
    {
        var tenant = await BillingSupport.TenantOnPlanAsync();
        using var onB = await ClientOnBAsync(tenant.Admin);
        // Warm node B's gate: a write it lets through caches the tenant's state.
        await CreateFolderAsync(onB, tenant, HttpStatusCode.Created);
        await CreateFolderAsync(onB, tenant, HttpStatusCode.Created);

        await BillingSupport.DeliverAsync(tenant, "subscription.paused", DateTimeOffset.UtcNow);
        var latency = await PollUntilAsync(async () =>
        {
            using var response = await PostFolderAsync(onB, tenant);
            return response.StatusCode == HttpStatusCode.PaymentRequired;
        });
        output.WriteLine($"node B's write gate refused after {latency.TotalMilliseconds:0} ms");
        latency.ShouldBeLessThan(Deadline);
        await CreateFolderAsync(onB, tenant, HttpStatusCode.PaymentRequired);
    }

    [Fact]
    public async Task The_listener_reconnects_after_its_backend_is_killed_and_clears_what_it_may_have_missed()
    {
        var node = await NodeB.Value;
        var listener = node.Services.GetRequiredService<CacheListener>();
        var tenant = await BillingSupport.TenantOnPlanAsync();
        var member = await tenant.CreateUserAsync("Member");
        using var onB = await ClientOnBAsync(member);
        (await onB.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A change no notification tells of (as one sent while the listener is away): node B keeps serving its entry.
        await ShareLinkTests.OwnerExecuteAsync(tenant.App, tenant.Id, "UPDATE users SET disabled = true WHERE tenant_id = @t AND id = @u",
            ("t", tenant.Id), ("u", member.UserId));
        (await onB.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK, "node B still holds its cached account (60 s)");

        var connects = listener.Connects;
        var pid = listener.BackendPid;
        pid.ShouldNotBe(0);
        // As the role the backend runs as (the app's): the schema owner is no member of it, so PostgreSQL refuses it the kill.
        await using (var sameRole = new NpgsqlConnection(tenant.App.AppConnectionString))
        {
            await sameRole.OpenAsync();
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(@pid)", sameRole);
            kill.Parameters.AddWithValue("pid", pid);
            ((bool)(await kill.ExecuteScalarAsync())!).ShouldBeTrue();
        }
        var started = Stopwatch.GetTimestamp();
        await WaitConnectedAsync(listener, connects + 1, TimeSpan.FromSeconds(20));
        listener.BackendPid.ShouldNotBe(pid);
        output.WriteLine($"the listener was back after {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
        // Cleared on reconnect: refused at once, not after the 60 s the entry had left.
        (await onB.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        // And it listens again: a change made through node A now reaches node B.
        var other = await tenant.CreateUserAsync("Member");
        using var otherOnB = await ClientOnBAsync(other);
        (await otherOnB.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{other.UserId}", new { disabled = true })).StatusCode.ShouldBe(HttpStatusCode.OK);
        var latency = await PollUntilAsync(async () => (await otherOnB.GetAsync("/api/v1/documents")).StatusCode == HttpStatusCode.Unauthorized);
        output.WriteLine($"after the reconnect, node B refused a disabled user after {latency.TotalMilliseconds:0} ms");
        latency.ShouldBeLessThan(Deadline);
    }

    private static async Task<HttpClient> ClientOnBAsync(SignedIn who)
    {
        var client = (await NodeB.Value).CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", who.Tokens.AccessToken);
        return client;
    }

    private static Task<HttpResponseMessage> PostFolderAsync(HttpClient client, TestTenant tenant) =>
        client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = tenant.DefaultWorkspaceId, name = $"f-{Guid.NewGuid():N}" });

    private static async Task CreateFolderAsync(HttpClient client, TestTenant tenant, HttpStatusCode expected)
    {
        using var response = await PostFolderAsync(client, tenant);
        await response.ShouldHaveStatusAsync(expected);
    }

    /// <summary>Polls every 50 ms until <paramref name="done"/>; the time it took (the assertion is the caller's; gives up after 15 s).</summary>
    private static async Task<TimeSpan> PollUntilAsync(Func<Task<bool>> done)
    {
        var started = Stopwatch.GetTimestamp();
        while (!await done())
        {
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(15))
            {
                throw new ShouldAssertException("Node B still served the stale entry after 15 s.");
            }
            await Task.Delay(50);
        }
        return Stopwatch.GetElapsedTime(started);
    }

    private static async Task WaitConnectedAsync(CacheListener listener, long connects, TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (listener.Connects < connects || listener.BackendPid == 0)
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                throw new ShouldAssertException($"The cache listener did not connect (connects {listener.Connects}, wanted {connects}).");
            }
            await Task.Delay(50);
        }
    }
}
