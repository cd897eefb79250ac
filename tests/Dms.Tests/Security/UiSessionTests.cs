using System.Net;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Shouldly;
using Xunit;

namespace Dms.Tests.Security;

/// <summary>The web UI's cookie session over HTTP: who reaches which page, and that a session ends for real.</summary>
public sealed partial class UiSessionTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task An_auditor_reaches_the_audit_page_and_no_other_admin_page()
    {
        var auditor = await fixture.Tenant.CreateUserAsync("Auditor");
        var (client, _) = await SignInAsync(auditor.Email, auditor.Password);
        using (var audit = await client.GetAsync("/admin/audit"))
        {
            audit.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        foreach (var page in new[] { "/admin/users", "/admin/groups", "/admin/trash", "/admin/outbox", "/admin/workspaces" })
        {
            using var denied = await client.GetAsync(page);
            denied.StatusCode.ShouldBe(HttpStatusCode.Redirect, page);
            PathOf(denied).ShouldBe("/denied", page);
        }
    }

    [Fact]
    public async Task Signing_out_ends_the_session_even_for_a_copied_cookie()
    {
        var member = await fixture.Tenant.CreateUserAsync("Member");
        var (client, cookie) = await SignInAsync(member.Email, member.Password);
        var copy = Client();
        copy.DefaultRequestHeaders.Add("Cookie", cookie);
        using (var before = await copy.GetAsync("/documents"))
        {
            before.StatusCode.ShouldBe(HttpStatusCode.OK, "the copied cookie works while the sign-in lasts");
        }

        var page = await client.GetStringAsync("/documents");
        using var logout = await client.PostAsync("/logout", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = Token(page),
        }));
        logout.StatusCode.ShouldBe(HttpStatusCode.Redirect);

        using var after = await copy.GetAsync("/documents");
        after.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        PathOf(after).ShouldBe("/login");
    }

    [Fact]
    public async Task The_api_never_accepts_the_ui_cookie_and_keeps_its_strict_headers_whatever_the_case()
    {
        var (client, _) = await SignInAsync("admin@example.test", null);
        using var me = await client.GetAsync("/api/v1/me");
        me.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        using var shouting = await client.GetAsync("/API/V1/ME");
        shouting.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        shouting.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        shouting.Headers.GetValues("Content-Security-Policy").Single().ShouldStartWith("default-src 'none'");
        shouting.Headers.GetValues("X-Frame-Options").Single().ShouldBe("DENY");
    }

    [Fact]
    public async Task An_htmx_call_without_a_session_is_told_where_to_sign_in()
    {
        var client = Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/documents");
        request.Headers.Add("HX-Request", "true");
        using var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        response.Headers.GetValues("HX-Redirect").ShouldBe(["/login"]);
    }

    private HttpClient Client() => fixture.Tenant.App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    /// <summary>Signs in through the login form; returns the client (holding the cookie) and the session cookie's header value.</summary>
    private async Task<(HttpClient Client, string Cookie)> SignInAsync(string email, string? password)
    {
        password ??= fixture.Tenant.Admin.Password;
        var client = Client();
        var form = await client.GetStringAsync("/login");
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Tenant"] = fixture.Tenant.Slug,
            ["Email"] = email,
            ["Password"] = password,
            ["__RequestVerificationToken"] = Token(form),
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("dms.session=", StringComparison.Ordinal));
        return (client, cookie[..cookie.IndexOf(';', StringComparison.Ordinal)]);
    }

    private static string PathOf(HttpResponseMessage redirect) => new Uri(new Uri("http://localhost"), redirect.Headers.Location!).AbsolutePath;

    private static string Token(string html) =>
        AntiforgeryField().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new ShouldAssertException("no antiforgery token on the page");

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
