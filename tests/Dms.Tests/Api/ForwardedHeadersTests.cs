using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// <c>X-Forwarded-For</c> counts only from a configured proxy (<c>Dms__Http__KnownProxies</c>): behind one, the
/// per-address sign-in limit applies to each client; without the setting the header is ignored, so a client cannot
/// name a new address per attempt to escape the limit. Every request here arrives from 10.1.2.3, "the load balancer".
/// </summary>
public sealed class ForwardedHeadersTests
{
    private static Task<DmsApp> AppAsync(string name, string? knownProxies)
    {
        var settings = new Dictionary<string, string> { ["Dms:Security:LoginRateLimit:PermitLimit"] = "2" };
        if (knownProxies is not null)
        {
            settings["Dms:Http:KnownProxies"] = knownProxies;
        }
        return DmsApp.CreateIsolatedAsync($"{name}_{Guid.NewGuid():N}"[..20], settings,
            services => services.AddSingleton<IStartupFilter, FromLoadBalancer>());
    }

    private static async Task<HttpStatusCode> LoginFromAsync(DmsApp app, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/login")
        {
            Content = JsonContent.Create(new { tenant = "nope", email = "a@example.test", password = "wrong-password" }),
        };
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var response = await app.CreateClient().SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task Behind_a_configured_proxy_the_forwarded_address_is_the_one_limited()
    {
        await using var app = await AppAsync("fwd_on", "10.0.0.0/8");
        (await LoginFromAsync(app, "203.0.113.1")).ShouldNotBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.1")).ShouldNotBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.1")).ShouldBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.2")).ShouldNotBe(HttpStatusCode.TooManyRequests, "another client behind the same proxy has its own limit");
    }

    [Fact]
    public async Task Without_the_setting_a_forwarded_address_is_ignored_and_cannot_escape_the_limit()
    {
        await using var app = await AppAsync("fwd_off", null);
        (await LoginFromAsync(app, "203.0.113.1")).ShouldNotBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.2")).ShouldNotBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.3")).ShouldBe(HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task A_forwarded_header_from_an_unlisted_address_is_ignored()
    {
        await using var app = await AppAsync("fwd_other", "192.0.2.10");
        (await LoginFromAsync(app, "203.0.113.1")).ShouldNotBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.2")).ShouldNotBe(HttpStatusCode.TooManyRequests);
        (await LoginFromAsync(app, "203.0.113.3")).ShouldBe(HttpStatusCode.TooManyRequests);
    }

    /// <summary>The in-memory server has no peer address: every request comes from the "load balancer".</summary>
    private sealed class FromLoadBalancer : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Connection.RemoteIpAddress = IPAddress.Parse("10.1.2.3");
                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
