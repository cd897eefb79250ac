using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

public sealed class UserTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;

    [Fact]
    public async Task Admin_creates_lists_gets_and_changes_users()
    {
        var email = $"u-{Guid.NewGuid():N}"[..12] + "@example.test";
        using var created = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/users",
            new { email, password = "long-enough-pw", role = "viewer", displayName = "Vera Viewer" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var user = await created.JsonAsync();
        user.GetProperty("role").GetString().ShouldBe("Viewer");
        created.Headers.Location!.ToString().ShouldBe($"/api/v1/users/{user.GetProperty("id").GetGuid()}");

        var list = await (await Tenant.Admin.Client.GetAsync("/api/v1/users")).JsonAsync();
        list.GetProperty("items").EnumerateArray().Select(u => u.GetProperty("email").GetString()).ShouldContain(email);
        list.GetRawText().ShouldNotContain("password", Case.Insensitive);

        using var patched = await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{user.GetProperty("id").GetGuid()}", new { role = "Member" });
        await patched.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await patched.JsonAsync()).GetProperty("role").GetString().ShouldBe("Member");
    }

    [Fact]
    public async Task Duplicate_email_in_a_tenant_is_409_whatever_its_case()
    {
        var email = $"dup-{Guid.NewGuid():N}"[..14] + "@example.test";
        using var first = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/users", new { email, password = "long-enough-pw", role = "Member" });
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        using var second = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/users", new { email = email.ToUpperInvariant(), password = "long-enough-pw", role = "Member" });
        await second.ShouldBeProblemAsync(HttpStatusCode.Conflict, "user.email_taken");
    }

    [Fact]
    public async Task Invalid_new_users_get_field_errors()
    {
        using var response = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/users", new { email = "not-an-email", password = "short", role = "King" });
        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        var errors = problem.GetProperty("errors");
        errors.TryGetProperty("email", out _).ShouldBeTrue();
        errors.TryGetProperty("password", out _).ShouldBeTrue();
        errors.TryGetProperty("role", out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData("Member")]
    [InlineData("Viewer")]
    [InlineData("Auditor")]
    public async Task Only_admins_manage_users(string role)
    {
        var user = await Tenant.CreateUserAsync(role);
        using var list = await user.Client.GetAsync("/api/v1/users");
        await list.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
        using var create = await user.Client.PostAsJsonAsync("/api/v1/users", new { email = "x@example.test", password = "long-enough-pw", role = "Admin" });
        await create.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
    }

    [Fact]
    public async Task The_last_enabled_admin_cannot_be_demoted_or_disabled()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        var me = await (await tenant.Admin.Client.GetAsync("/api/v1/me")).JsonAsync();
        var adminId = me.GetProperty("id").GetGuid();
        using var demote = await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{adminId}", new { role = "Member" });
        await demote.ShouldBeProblemAsync(HttpStatusCode.Conflict, "user.last_admin");
        using var disable = await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{adminId}", new { disabled = true });
        await disable.ShouldBeProblemAsync(HttpStatusCode.Conflict, "user.last_admin");

        // With a second admin, two admins demoting each other at once: exactly one succeeds.
        var second = await tenant.CreateUserAsync("Admin");
        var results = await Task.WhenAll(
            tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{second.UserId}", new { role = "Member" }),
            second.Client.PatchAsJsonAsync($"/api/v1/users/{adminId}", new { role = "Member" }));
        results.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        // The loser is refused: by the last-admin rule (409), or, when the winner committed before the loser's
        // request was authorised, because the loser is no longer an admin (403; roles are re-read per request).
        results.Count(r => r.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.Forbidden).ShouldBe(1);
    }
}
