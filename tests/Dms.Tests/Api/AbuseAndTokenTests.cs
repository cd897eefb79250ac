using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

public sealed class LockoutAndAccountTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;

    private Task<HttpResponseMessage> LoginAsync(string email, string password) =>
        Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = Tenant.Slug, email, password });

    [Fact]
    public async Task Repeated_failures_lock_the_account_even_for_the_right_password_and_answer_alike_for_unknown_accounts()
    {
        var member = await Tenant.CreateUserAsync("Member");
        foreach (var email in new[] { member.Email, "nobody-" + Guid.NewGuid().ToString("N")[..8] + "@example.test" })
        {
            for (var i = 1; i <= 4; i++)
            {
                using var wrong = await LoginAsync(email, "wrong-password-x");
                await wrong.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_credentials");
            }
            using var fifth = await LoginAsync(email, "wrong-password-x");
            var locked = await fifth.ShouldBeProblemAsync((HttpStatusCode)423, "auth.locked");
            int.Parse(fifth.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture).ShouldBeInRange(800, 900);
            locked.GetProperty("title").GetString()!.ShouldNotContain("exist", Case.Insensitive);
        }
        using var rightButLocked = await LoginAsync(member.Email, member.Password);
        await rightButLocked.ShouldBeProblemAsync((HttpStatusCode)423, "auth.locked");
    }

    [Fact]
    public async Task A_successful_sign_in_resets_the_failure_count()
    {
        var member = await Tenant.CreateUserAsync("Member");
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 3; i++)
            {
                (await LoginAsync(member.Email, "wrong-password-x")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            }
            await (await LoginAsync(member.Email, member.Password)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Disabling_a_user_or_changing_a_role_takes_effect_on_the_next_request()
    {
        var member = await Tenant.CreateUserAsync("Member");
        await (await member.Client.GetAsync("/api/v1/me")).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{member.UserId}", new { disabled = true })).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await member.Client.GetAsync("/api/v1/me")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.unauthenticated");

        var admin = await Tenant.CreateUserAsync("Admin");
        await (await admin.Client.GetAsync("/api/v1/users")).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{admin.UserId}", new { role = "Viewer" })).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await admin.Client.GetAsync("/api/v1/users")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
    }

    [Fact]
    public async Task Logout_revokes_the_sign_in_and_never_reveals_anything()
    {
        var session = await Tenant.SignInAsync(Tenant.Admin.Email, Tenant.Admin.Password);
        var client = Tenant.App.CreateClient();
        using (var logout = await client.PostAsJsonAsync("/api/v1/auth/logout", new { refreshToken = session.Tokens.RefreshToken }))
        {
            logout.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }
        using var refresh = await client.PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = session.Tokens.RefreshToken });
        await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
        using var garbage = await client.PostAsJsonAsync("/api/v1/auth/logout", new { refreshToken = "whatever" });
        garbage.StatusCode.ShouldBe(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Personal_tokens_act_as_their_owner_are_shown_once_can_be_read_only_and_revoked()
    {
        var member = await Tenant.CreateUserAsync("Member");
        async Task<(Guid Id, string Token)> CreateAsync(object body)
        {
            using var response = await member.Client.PostAsJsonAsync("/api/v1/me/tokens", body);
            await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
            var json = await response.JsonAsync();
            return (json.GetProperty("id").GetGuid(), json.GetProperty("token").GetString()!);
        }
        var (fullId, full) = await CreateAsync(new { name = "ci uploader", expiresAt = DateTimeOffset.UtcNow.AddDays(30) });
        var (_, readOnly) = await CreateAsync(new { name = "reporting", expiresAt = DateTimeOffset.UtcNow.AddDays(30), scopes = new[] { "read" } });
        full.ShouldStartWith("dms_pat_");

        var viaToken = Tenant.App.ClientWithToken(full);
        var me = await (await viaToken.GetAsync("/api/v1/me")).JsonAsync();
        me.GetProperty("id").GetGuid().ShouldBe(member.UserId);
        using (var upload = await viaToken.PostAsync("/api/v1/documents", Uploads.Form("by-token.txt", Uploads.Text("via token"))))
        {
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        var audit = await (await Tenant.Admin.Client.GetAsync("/api/v1/audit?action=document.uploaded&limit=1")).JsonAsync();
        audit.GetProperty("items")[0].GetProperty("actorType").GetString().ShouldBe("token");
        audit.GetProperty("items")[0].GetProperty("actorId").GetGuid().ShouldBe(member.UserId);

        var reader = Tenant.App.ClientWithToken(readOnly);
        await (await reader.GetAsync("/api/v1/documents")).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await reader.PostAsync("/api/v1/documents", Uploads.Form("no.txt", Uploads.Text("no")))).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.token_scope");
        await (await viaToken.PostAsJsonAsync("/api/v1/me/tokens", new { name = "chain", expiresAt = DateTimeOffset.UtcNow.AddDays(1) }))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.token_cannot_create_tokens");

        var list = await (await member.Client.GetAsync("/api/v1/me/tokens")).JsonAsync();
        list.GetProperty("items").GetArrayLength().ShouldBe(2);
        list.GetRawText().ShouldNotContain("dms_pat_");

        await (await member.Client.DeleteAsync($"/api/v1/me/tokens/{fullId}")).ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        await (await viaToken.GetAsync("/api/v1/me")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.unauthenticated");
        await (await Tenant.App.ClientWithToken("dms_pat_" + new string('0', 32) + "_forged").GetAsync("/api/v1/me")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.unauthenticated");

        await (await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{member.UserId}", new { disabled = true })).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await reader.GetAsync("/api/v1/me")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.unauthenticated");
    }

    [Theory]
    [InlineData("{\"name\":\"x\"}")]
    [InlineData("{\"name\":\"\",\"expiresAt\":\"2099-01-01T00:00:00Z\"}")]
    [InlineData("{\"name\":\"x\",\"expiresAt\":\"2000-01-01T00:00:00Z\"}")]
    [InlineData("{\"name\":\"x\",\"expiresAt\":\"2099-01-01T00:00:00Z\"}")]
    [InlineData("{\"name\":\"x\",\"expiresAt\":\"2027-01-01T00:00:00Z\",\"scopes\":[\"admin\"]}")]
    public async Task Invalid_token_requests_are_400(string json)
    {
        using var response = await Tenant.Admin.Client.PostAsync("/api/v1/me/tokens", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }
}

/// <summary>Rate limits with small numbers, on an app of their own so the rest of the suite is not throttled.</summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private DmsApp _app = null!;

    public async Task InitializeAsync() => _app = await DmsApp.CreateIsolatedAsync($"limits_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
    {
        ["Dms:Security:LoginRateLimit:PermitLimit"] = "5",
        ["Dms:Security:UploadRateLimit:PermitLimit"] = "2",
    });

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Sign_ins_beyond_the_limit_and_uploads_beyond_the_limit_get_429_with_retry_after()
    {
        var tenant = await _app.CreateTenantAsync(); // one sign-in
        var client = _app.CreateClient();
        for (var i = 0; i < 4; i++)
        {
            using var attempt = await client.PostAsJsonAsync("/api/v1/auth/login", new { tenant = tenant.Slug, email = $"guess{i}@example.test", password = "password-123" });
            attempt.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        using var limited = await client.PostAsJsonAsync("/api/v1/auth/login", new { tenant = tenant.Slug, email = tenant.Admin.Email, password = tenant.Admin.Password });
        await limited.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests, "auth.rate_limited");
        int.Parse(limited.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture).ShouldBeGreaterThan(0);

        for (var i = 0; i < 2; i++)
        {
            await (await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"u{i}.txt", Uploads.Text("u")))).ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        using var tooMany = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("u3.txt", Uploads.Text("u")));
        await tooMany.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests, "upload.rate_limited");
        tooMany.Headers.Contains("Retry-After").ShouldBeTrue();
        // Reading is not limited.
        await (await tenant.Admin.Client.GetAsync("/api/v1/documents")).ShouldHaveStatusAsync(HttpStatusCode.OK);
    }
}
