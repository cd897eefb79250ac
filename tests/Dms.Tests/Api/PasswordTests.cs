using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// Passwords after the account exists: the owner changes theirs (other sessions end), an admin resets one to a
/// temporary password that must be changed before anything else, and the policy refuses short and common ones.
/// </summary>
public sealed class PasswordTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;

    [Fact]
    public async Task Changing_the_password_ends_other_sessions_and_the_new_one_signs_in()
    {
        var user = await Tenant.CreateUserAsync("Member");
        var other = await Tenant.SignInAsync(user.Email, user.Password);

        using var changed = await user.Client.PostAsJsonAsync("/api/v1/me/password", new { currentPassword = user.Password, newPassword = "a brand new secret 42" });
        await changed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var fresh = (await changed.Content.ReadFromJsonAsync<Tokens>())!;

        // The other sign-in cannot renew itself; the answer's tokens work; the old password no longer signs in.
        using (var refresh = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = other.Tokens.RefreshToken }))
        {
            await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
        }
        using (var me = await Tenant.App.ClientWithToken(fresh.AccessToken).GetAsync("/api/v1/documents"))
        {
            await me.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var old = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = Tenant.Slug, email = user.Email, password = user.Password }))
        {
            await old.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_credentials");
        }
        await Tenant.SignInAsync(user.Email, "a brand new secret 42");

        var audit = await (await Tenant.Admin.Client.GetAsync($"/api/v1/audit?action=password.changed&limit=50")).JsonAsync();
        var events = audit.GetProperty("items").EnumerateArray().Where(e => e.GetProperty("entityId").GetString() == user.UserId.ToString()).ToList();
        events.Count.ShouldBe(1);
        events[0].GetRawText().ShouldNotContain("brand new secret");
    }

    [Theory]
    [InlineData("short", "newPassword")]
    [InlineData("password123", "newPassword")]
    [InlineData("QWERTYUIOP123", "newPassword")]
    [InlineData("1234567890", "newPassword")]
    public async Task Short_and_common_passwords_are_refused(string newPassword, string field)
    {
        var user = await Tenant.CreateUserAsync("Member");
        using var response = await user.Client.PostAsJsonAsync("/api/v1/me/password", new { currentPassword = user.Password, newPassword });
        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
        await Tenant.SignInAsync(user.Email, user.Password);

        using var create = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/users", new { email = $"c-{Guid.NewGuid():N}@example.test", password = newPassword, role = "Member" });
        await create.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task A_wrong_current_password_is_refused_and_changes_nothing()
    {
        var user = await Tenant.CreateUserAsync("Member");
        using var response = await user.Client.PostAsJsonAsync("/api/v1/me/password", new { currentPassword = "not-the-password-1", newPassword = "another good secret 7" });
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "password.current_invalid");
        await Tenant.SignInAsync(user.Email, user.Password);
    }

    [Fact]
    public async Task An_admin_reset_gives_a_temporary_password_that_must_be_changed_before_anything_else()
    {
        var user = await Tenant.CreateUserAsync("Member");
        using var reset = await Tenant.Admin.Client.PostAsync($"/api/v1/users/{user.UserId}/password-reset", null);
        await reset.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var body = await reset.JsonAsync();
        var temporary = body.GetProperty("temporaryPassword").GetString()!;
        body.GetProperty("mustChangePassword").GetBoolean().ShouldBeTrue();

        // The user's sessions ended: the refresh token is dead, and even the unexpired access token is held to the change.
        using (var stale = await user.Client.GetAsync("/api/v1/documents"))
        {
            await stale.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.password_change_required");
        }
        using (var refresh = await Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = user.Tokens.RefreshToken }))
        {
            await refresh.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
        }

        var signedIn = await Tenant.SignInAsync(user.Email, temporary);
        using (var blocked = await signedIn.Client.GetAsync("/api/v1/documents"))
        {
            await blocked.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.password_change_required");
        }
        using (var me = await signedIn.Client.GetAsync("/api/v1/me"))
        {
            await me.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var changed = await signedIn.Client.PostAsJsonAsync("/api/v1/me/password", new { currentPassword = temporary, newPassword = "my own secret again 9" });
        await changed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var fresh = (await changed.Content.ReadFromJsonAsync<Tokens>())!;
        using (var now = await Tenant.App.ClientWithToken(fresh.AccessToken).GetAsync("/api/v1/documents"))
        {
            await now.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        var audit = await (await Tenant.Admin.Client.GetAsync("/api/v1/audit?action=password.reset&limit=50")).JsonAsync();
        audit.GetProperty("items").EnumerateArray().Count(e => e.GetProperty("entityId").GetString() == user.UserId.ToString()).ShouldBe(1);
        audit.GetRawText().ShouldNotContain(temporary);
    }

    [Fact]
    public async Task Only_admins_reset_and_another_tenants_user_is_unknown()
    {
        var member = await Tenant.CreateUserAsync("Member");
        var victim = await Tenant.CreateUserAsync("Viewer");
        using (var denied = await member.Client.PostAsync($"/api/v1/users/{victim.UserId}/password-reset", null))
        {
            await denied.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
        }
        using var unknown = await Tenant.Admin.Client.PostAsync($"/api/v1/users/{Guid.NewGuid()}/password-reset", null);
        await unknown.ShouldBeProblemAsync(HttpStatusCode.NotFound, "user.not_found");
        await Tenant.SignInAsync(victim.Email, victim.Password);
    }
}
