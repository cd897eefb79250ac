using System.Net;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Dms.Tests.Sharing;

/// <summary>
/// Share links are rate limited per link (across addresses) and per client address (across links), and every access is
/// audited with the client's address. An app of its own with small limits; the in-memory server has no peer address, so
/// a startup filter takes it from the test's X-Test-Peer header.
/// </summary>
public sealed class ShareRateLimitTests : IAsyncLifetime
{
    private DmsApp _app = null!;
    private TestTenant _tenant = null!;

    public async Task InitializeAsync()
    {
        _app = await DmsApp.CreateIsolatedAsync($"share_rl_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
        {
            ["Dms:Sharing:TokenRateLimit:PermitLimit"] = "3",
            ["Dms:Sharing:TokenRateLimit:Window"] = "00:10:00",
            ["Dms:Sharing:AddressRateLimit:PermitLimit"] = "5",
            ["Dms:Sharing:AddressRateLimit:Window"] = "00:10:00",
        }, services => services.AddSingleton<IStartupFilter, PeerFromHeader>());
        _tenant = await _app.CreateTenantAsync();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<HttpStatusCode> GetFromAsync(string peer, string path)
    {
        using var client = ShareLinkTests.Visitor(_app);
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("X-Test-Peer", peer);
        using var response = await client.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests, "share.rate_limited");
            response.Headers.Contains("Retry-After").ShouldBeTrue();
        }
        return response.StatusCode;
    }

    [Fact]
    public async Task One_link_is_limited_across_addresses_and_one_address_across_links_and_accesses_carry_the_address()
    {
        var (documentId, _, _) = await ShareLinkTests.UploadAsync(_tenant.Admin);
        var (shareId, _, first) = await ShareLinkTests.ShareAsync(_tenant.Admin, documentId);
        var (_, _, second) = await ShareLinkTests.ShareAsync(_tenant.Admin, documentId);
        var (_, _, third) = await ShareLinkTests.ShareAsync(_tenant.Admin, documentId);

        // Per link: 3 requests, from three addresses, then the link is refused whoever asks.
        (await GetFromAsync("203.0.113.1", $"/s/{first}")).ShouldBe(HttpStatusCode.OK);
        (await GetFromAsync("203.0.113.2", $"/s/{first}/download")).ShouldBe(HttpStatusCode.OK);
        (await GetFromAsync("203.0.113.3", $"/s/{first}")).ShouldBe(HttpStatusCode.OK);
        (await GetFromAsync("203.0.113.4", $"/s/{first}/download")).ShouldBe(HttpStatusCode.TooManyRequests);
        (await GetFromAsync("203.0.113.4", $"/s/{second}")).ShouldBe(HttpStatusCode.OK, "another link is not limited by the first one's count");

        // Per address: 5 requests from one address over any links (unknown tokens count too: guessing is what it stops).
        var peer = "198.51.100.7";
        (await GetFromAsync(peer, $"/s/{second}")).ShouldBe(HttpStatusCode.OK);
        (await GetFromAsync(peer, $"/s/{third}")).ShouldBe(HttpStatusCode.OK);
        (await GetFromAsync(peer, $"/s/{new string('B', 43)}")).ShouldBe(HttpStatusCode.NotFound);
        (await GetFromAsync(peer, $"/s/{new string('C', 43)}/download")).ShouldBe(HttpStatusCode.NotFound);
        (await GetFromAsync(peer, $"/s/{third}/download")).ShouldBe(HttpStatusCode.OK);
        (await GetFromAsync(peer, $"/s/{new string('D', 43)}")).ShouldBe(HttpStatusCode.TooManyRequests);
        (await GetFromAsync("198.51.100.8", $"/s/{third}")).ShouldBe(HttpStatusCode.OK, "another address has its own count");

        var addresses = await ShareLinkTests.OwnerScalarAsync<string[]>(_app, _tenant.Id,
            "SELECT array_agg(client_ip || '=' || (data ->> 'address') ORDER BY seq) FROM audit_events WHERE action = 'share.accessed' AND data ->> 'shareId' = @id",
            ("id", shareId.ToString()));
        addresses.ShouldBe(["203.0.113.1=203.0.113.1", "203.0.113.2=203.0.113.2", "203.0.113.3=203.0.113.3"]);
    }

    private sealed class PeerFromHeader : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (context.Request.Headers.TryGetValue("X-Test-Peer", out var peer))
                {
                    context.Connection.RemoteIpAddress = IPAddress.Parse(peer.ToString());
                }
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
