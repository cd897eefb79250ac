using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Shouldly;

namespace Dms.Tests.Infrastructure;

/// <summary>The web UI over HTTP: a cookie session signed in through the login form, and the forms' antiforgery token.</summary>
internal static partial class UiForms
{
    /// <summary>A client holding <paramref name="who"/>'s UI session cookie; it does not follow redirects.</summary>
    public static async Task<HttpClient> SignInToUiAsync(this TestTenant tenant, SignedIn who)
    {
        var client = tenant.App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var form = await client.GetStringAsync("/login");
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Tenant"] = tenant.Slug,
            ["Email"] = who.Email,
            ["Password"] = who.Password,
            ["__RequestVerificationToken"] = Token(form),
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        return client;
    }

    /// <summary>Posts a page's form with <paramref name="fields"/> and the antiforgery token read from <paramref name="page"/>.</summary>
    public static Task<HttpResponseMessage> PostFormAsync(this HttpClient client, string url, string page, Dictionary<string, string> fields) =>
        client.PostAsync(url, new FormUrlEncodedContent(new Dictionary<string, string>(fields) { ["__RequestVerificationToken"] = Token(page) }));

    public static string Token(string html) =>
        AntiforgeryField().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : throw new ShouldAssertException("no antiforgery token on the page");

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
