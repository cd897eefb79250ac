using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

public sealed class AuthTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;

    [Fact]
    public async Task Login_returns_tokens_and_me_names_the_user_and_tenant()
    {
        var me = await (await Tenant.Admin.Client.GetAsync("/api/v1/me")).JsonAsync();
        me.GetProperty("email").GetString().ShouldBe("admin@example.test");
        me.GetProperty("role").GetString().ShouldBe("Admin");
        me.GetProperty("tenant").GetProperty("slug").GetString().ShouldBe(Tenant.Slug);
        Tenant.Admin.Tokens.ExpiresIn.ShouldBeInRange(60, 3600);
        Tenant.Admin.Tokens.TokenType.ShouldBe("Bearer");
    }

    [Theory]
    [InlineData("wrong-password-123", null)]
    [InlineData(null, "nobody@example.test")]
    public async Task Wrong_password_and_unknown_user_get_the_same_401(string? password, string? email)
    {
        using var response = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login",
            new { tenant = Tenant.Slug, email = email ?? Tenant.Admin.Email, password = password ?? Tenant.Admin.Password });
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_credentials");
    }

    [Fact]
    public async Task Unknown_tenant_gets_the_same_401_as_a_wrong_password()
    {
        using var response = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login",
            new { tenant = "no-such-tenant", email = Tenant.Admin.Email, password = Tenant.Admin.Password });
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_credentials");
    }

    [Fact]
    public async Task Email_is_case_insensitive_at_login()
    {
        var signedIn = await Tenant.SignInAsync(Tenant.Admin.Email.ToUpperInvariant(), Tenant.Admin.Password);
        signedIn.Tokens.AccessToken.ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task Refresh_rotates_and_an_old_refresh_token_is_rejected_and_revokes_its_family()
    {
        var session = await Tenant.SignInAsync(Tenant.Admin.Email, Tenant.Admin.Password);
        var client = Tenant.App.CreateClient();

        using var first = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = session.Tokens.RefreshToken });
        await first.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var rotated = (await first.Content.ReadFromJsonAsync<Tokens>())!;
        rotated.RefreshToken.ShouldNotBe(session.Tokens.RefreshToken);
        using (var meWithNew = await Tenant.App.ClientWithToken(rotated.AccessToken).GetAsync("/api/v1/me"))
        {
            await meWithNew.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        using var reuse = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = session.Tokens.RefreshToken });
        await reuse.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");

        // Reuse of a rotated token revokes the family: the newest token of that login is dead too.
        using var afterReuse = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = rotated.RefreshToken });
        await afterReuse.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");

        // Other logins of the same user are separate families and keep working.
        using var otherLogin = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = Tenant.Admin.Tokens.RefreshToken });
        await otherLogin.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Concurrent_uses_of_one_refresh_token_yield_exactly_one_new_pair()
    {
        var session = await Tenant.SignInAsync(Tenant.Admin.Email, Tenant.Admin.Password);
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var response = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = session.Tokens.RefreshToken });
            return response.StatusCode;
        }));
        var summary = string.Join(", ", results.GroupBy(s => s).Select(g => $"{(int)g.Key}×{g.Count()}"));
        results.Count(s => s == HttpStatusCode.OK).ShouldBe(1, summary);
        results.Count(s => s == HttpStatusCode.Unauthorized).ShouldBe(19, summary);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-token")]
    [InlineData("00000000000000000000000000000000.AAAA")]
    public async Task Garbage_refresh_tokens_are_401(string token)
    {
        using var response = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = token });
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer not.a.jwt")]
    [InlineData("Basic YWRtaW46cGFzc3dvcmQ=")]
    public async Task Requests_without_a_valid_token_are_401(string? authorization)
    {
        var client = Tenant.App.CreateClient();
        if (authorization is not null)
        {
            client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);
        }
        using var response = await client.GetAsync("/api/v1/me");
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task A_token_signed_with_another_key_is_401()
    {
        // Same claims, forged with a key the server does not have.
        var forged = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            Issuer = "dms",
            Audience = "dms-api",
            Claims = new Dictionary<string, object> { ["sub"] = Guid.NewGuid().ToString(), ["tid"] = Tenant.Id.ToString(), ["role"] = "Admin" },
            SigningCredentials = new Microsoft.IdentityModel.Tokens.SigningCredentials(
                new Microsoft.IdentityModel.Tokens.SymmetricSecurityKey(new byte[64]), "HS256"),
        });
        using var response = await Tenant.App.ClientWithToken(forged).GetAsync("/api/v1/me");
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Fact]
    public async Task A_disabled_user_can_neither_sign_in_nor_refresh()
    {
        var member = await Tenant.CreateUserAsync("Member");
        using (var disable = await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{member.UserId}", new { disabled = true }))
        {
            await disable.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await disable.JsonAsync()).GetProperty("disabled").GetBoolean().ShouldBeTrue();
        }
        using var login = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = Tenant.Slug, email = member.Email, password = member.Password });
        await login.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.user_disabled");
        using var refresh = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = member.Tokens.RefreshToken });
        await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
    }
}
