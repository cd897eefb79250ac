using System.Net;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>The web UI's paths answer errors with HTML pages; the API's keep problem+json exactly as before.</summary>
public sealed class UiErrorPageTests
{
    private static async Task<string> ShouldBeHtmlAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        await response.ShouldHaveStatusAsync(status);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task An_unknown_ui_url_is_a_friendly_404_page_and_an_unknown_api_url_stays_problem_json()
    {
        var app = await DmsApp.GetAsync();
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        using var page = await client.GetAsync("/no/such/page");
        var html = await ShouldBeHtmlAsync(page, HttpStatusCode.NotFound);
        html.ShouldContain("Page not found");
        html.ShouldContain("href=\"/documents\"");

        using var api = await client.GetAsync("/api/v1/no-such-endpoint");
        await api.ShouldBeProblemAsync(HttpStatusCode.NotFound, "route.not_found");
        using var health = await client.GetAsync("/health/nope");
        await health.ShouldBeProblemAsync(HttpStatusCode.NotFound, "route.not_found");
        using var openapi = await client.GetAsync("/openapi/nope");
        await openapi.ShouldBeProblemAsync(HttpStatusCode.NotFound, "route.not_found");
    }

    [Fact]
    public async Task A_form_posted_with_a_stale_antiforgery_token_shows_the_expired_page_with_a_link_back()
    {
        var app = await DmsApp.GetAsync();
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using var post = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = "stale-token",
            ["Tenant"] = "demo",
            ["Email"] = "someone@example.test",
            ["Password"] = "whatever-password",
        }));
        var html = await ShouldBeHtmlAsync(post, HttpStatusCode.BadRequest);
        html.ShouldContain("This form has expired");
        html.ShouldContain("href=\"/login\"");
    }

    [Fact]
    public async Task An_unexpected_error_on_a_ui_path_is_a_500_page_with_the_reference_and_no_exception_text()
    {
        var app = await DmsApp.GetAsync();
        // A second host of the same app with one extra route that fails, reached after the app's own endpoints.
        await using var failing = app.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<IStartupFilter>(new ThrowingRoute())));
        var client = failing.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        using var request = new HttpRequestMessage(HttpMethod.Get, "/boom-for-test");
        request.Headers.Add("X-Correlation-Id", "corr-ui-500-test");
        using var page = await client.SendAsync(request);
        var html = await ShouldBeHtmlAsync(page, HttpStatusCode.InternalServerError);
        html.ShouldContain("Something went wrong");
        html.ShouldContain("corr-ui-500-test");
        html.ShouldNotContain("secret internals");
        html.ShouldNotContain("InvalidOperationException");

        using var api = await client.GetAsync("/api/boom-for-test");
        var problem = await api.ShouldBeProblemAsync(HttpStatusCode.InternalServerError, "server.error");
        problem.GetRawText().ShouldNotContain("secret internals");
    }

    private sealed class ThrowingRoute : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            next(app);
            app.Use((HttpContext context, RequestDelegate _) =>
                context.Request.Path.Value!.EndsWith("/boom-for-test", StringComparison.Ordinal)
                    ? throw new InvalidOperationException("secret internals")
                    : Task.CompletedTask);
        };
    }
}
