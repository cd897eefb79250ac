using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// Logout ends a whole sign-in: every refresh token of its family stops working, whichever token of the family
/// is presented, however many refreshes came before, and also when a refresh races it.
/// </summary>
public sealed class LogoutTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(5)]
    public async Task Logout_after_refreshes_answers_204_and_revokes_the_whole_family(int refreshes)
    {
        var client = Tenant.App.CreateClient();
        var tokens = new List<string> { (await Tenant.SignInAsync(Tenant.Admin.Email, Tenant.Admin.Password)).Tokens.RefreshToken };
        for (var i = 0; i < refreshes; i++)
        {
            tokens.Add(await RefreshAsync(client, tokens[^1]));
        }

        using (var logout = await client.PostAsJsonAsync("/api/v1/auth/logout", new { refreshToken = tokens[^1] }))
        {
            await logout.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        foreach (var token in tokens)
        {
            using var refresh = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = token });
            await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
        }
        using (var again = await client.PostAsJsonAsync("/api/v1/auth/logout", new { refreshToken = tokens[^1] }))
        {
            await again.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        var audit = await (await Tenant.Admin.Client.GetAsync("/api/v1/audit?action=auth.logout&limit=200")).JsonAsync();
        audit.GetProperty("items").GetArrayLength().ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task Logout_with_an_already_rotated_token_still_ends_the_sign_in()
    {
        var client = Tenant.App.CreateClient();
        var first = (await Tenant.SignInAsync(Tenant.Admin.Email, Tenant.Admin.Password)).Tokens.RefreshToken;
        var latest = await RefreshAsync(client, await RefreshAsync(client, first));

        using (var logout = await client.PostAsJsonAsync("/api/v1/auth/logout", new { refreshToken = first }))
        {
            await logout.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        using var refresh = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = latest });
        await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
    }

    [Fact]
    public async Task Logout_racing_a_refresh_leaves_no_token_of_the_family_alive()
    {
        var client = Tenant.App.CreateClient();
        var sessions = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
            await RefreshAsync(client, (await Tenant.SignInAsync(Tenant.Admin.Email, Tenant.Admin.Password)).Tokens.RefreshToken)));

        // Each sign-in: its latest token is refreshed and logged out at the same moment.
        var raced = await Task.WhenAll(sessions.Select(async token =>
        {
            var refresh = client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = token });
            var logout = client.PostAsJsonAsync("/api/v1/auth/logout", new { refreshToken = token });
            using var refreshed = await refresh;
            using var loggedOut = await logout;
            loggedOut.StatusCode.ShouldBe(HttpStatusCode.NoContent);
            return refreshed.StatusCode == HttpStatusCode.OK ? (await refreshed.Content.ReadFromJsonAsync<Tokens>())!.RefreshToken : null;
        }));

        foreach (var issued in raced.OfType<string>())
        {
            using var refresh = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = issued });
            await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
        }
    }

    private static async Task<string> RefreshAsync(HttpClient client, string token)
    {
        using var response = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = token });
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<Tokens>())!.RefreshToken;
    }
}
