using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Dms.Tests.Security;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Access;

/// <summary>Groups of users (<c>/api/v1/groups</c> and <c>/admin/groups</c>): admins manage them, everyone in the tenant lists them.</summary>
public sealed class GroupTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => Tenant.Admin.Client;

    [Fact]
    public async Task Admin_creates_lists_gets_renames_and_deletes_a_group()
    {
        var name = Unique("Finance");
        using var created = await Admin.PostAsJsonAsync("/api/v1/groups", new { name = $"  {name} " });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var group = await created.JsonAsync();
        var id = group.GetProperty("id").GetGuid();
        group.GetProperty("name").GetString().ShouldBe(name);
        group.GetProperty("memberCount").GetInt32().ShouldBe(0);
        group.GetProperty("createdAt").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddMinutes(-5));
        created.Headers.Location!.ToString().ShouldBe($"/api/v1/groups/{id}");

        var detail = await (await Admin.GetAsync($"/api/v1/groups/{id}")).JsonAsync();
        detail.GetProperty("name").GetString().ShouldBe(name);
        detail.GetProperty("members").GetArrayLength().ShouldBe(0);

        var renamed = Unique("Controlling");
        using var patched = await Admin.PatchAsJsonAsync($"/api/v1/groups/{id}", new { name = renamed });
        await patched.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await patched.JsonAsync()).GetProperty("name").GetString().ShouldBe(renamed);
        (await ListAsync(Admin)).ShouldContain(g => g.Id == id && g.Name == renamed);

        using var deleted = await Admin.DeleteAsync($"/api/v1/groups/{id}");
        await deleted.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        using var gone = await Admin.GetAsync($"/api/v1/groups/{id}");
        await gone.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        using var again = await Admin.DeleteAsync($"/api/v1/groups/{id}");
        await again.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        (await ListAsync(Admin)).ShouldNotContain(g => g.Id == id);
    }

    [Fact]
    public async Task The_list_is_sorted_by_name_whatever_the_case()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        foreach (var name in new[] { "delta", "Alpha", "charlie", "Bravo" })
        {
            using var response = await tenant.Admin.Client.PostAsJsonAsync("/api/v1/groups", new { name });
            await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        (await ListAsync(tenant.Admin.Client)).Select(g => g.Name).ShouldBe(["Alpha", "Bravo", "charlie", "delta"]);
    }

    [Fact]
    public async Task A_name_is_taken_whatever_its_case_even_by_concurrent_creates()
    {
        var name = Unique("Legal");
        var first = await CreateAsync(name);
        using var duplicate = await Admin.PostAsJsonAsync("/api/v1/groups", new { name = name.ToUpperInvariant() });
        await duplicate.ShouldBeProblemAsync(HttpStatusCode.Conflict, "group.name_taken");

        var other = await CreateAsync(Unique("Other"));
        using var renameOnto = await Admin.PatchAsJsonAsync($"/api/v1/groups/{other}", new { name = name.ToLowerInvariant() });
        await renameOnto.ShouldBeProblemAsync(HttpStatusCode.Conflict, "group.name_taken");
        using var ownCase = await Admin.PatchAsJsonAsync($"/api/v1/groups/{first}", new { name = name.ToUpperInvariant() });
        await ownCase.ShouldHaveStatusAsync(HttpStatusCode.OK);

        var racing = Unique("Race");
        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Admin.PostAsJsonAsync("/api/v1/groups", new { name = racing })));
        results.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        foreach (var loser in results.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            await loser.ShouldBeProblemAsync(HttpStatusCode.Conflict, "group.name_taken");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("tab\tinside")]
    [InlineData(null)]
    public async Task Invalid_names_are_400_with_a_field_error(string? name)
    {
        using var create = await Admin.PostAsJsonAsync("/api/v1/groups", new { name });
        (await create.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed")).GetProperty("errors").TryGetProperty("name", out _).ShouldBeTrue();
        var id = await CreateAsync(Unique("Valid"));
        using var rename = await Admin.PatchAsJsonAsync($"/api/v1/groups/{id}", new { name });
        await rename.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task Names_are_at_most_100_characters_and_route_ids_must_be_uuids()
    {
        var longest = Unique("N") + new string('n', 100);
        using var ok = await Admin.PostAsJsonAsync("/api/v1/groups", new { name = longest[..100] });
        await ok.ShouldHaveStatusAsync(HttpStatusCode.Created);
        using var tooLong = await Admin.PostAsJsonAsync("/api/v1/groups", new { name = longest[..101] });
        await tooLong.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");

        using var badId = await Admin.GetAsync("/api/v1/groups/not-a-uuid");
        await badId.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_id");
        var id = await CreateAsync(Unique("Ids"));
        using var badUser = await Admin.DeleteAsync($"/api/v1/groups/{id}/members/not-a-uuid");
        await badUser.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_id");
        using var badBodyUser = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = "not-a-uuid" });
        await badBodyUser.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_id");
        using var missingUser = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { });
        await missingUser.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task Admin_adds_and_removes_members_and_deleting_the_group_takes_its_memberships()
    {
        var id = await CreateAsync(Unique("Approvers"));
        var member = await Tenant.CreateUserAsync("Member");
        var viewer = await Tenant.CreateUserAsync("Viewer");

        using var added = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId });
        await added.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var group = await added.JsonAsync();
        group.GetProperty("memberCount").GetInt32().ShouldBe(1);
        var only = group.GetProperty("members").EnumerateArray().Single();
        only.GetProperty("userId").GetGuid().ShouldBe(member.UserId);
        only.GetProperty("email").GetString().ShouldBe(member.Email);
        only.GetProperty("addedAt").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddMinutes(-5));

        using var twice = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId });
        await twice.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await twice.JsonAsync()).GetProperty("memberCount").GetInt32().ShouldBe(1);
        using var second = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = viewer.UserId });
        (await second.JsonAsync()).GetProperty("members").EnumerateArray().Select(m => m.GetProperty("email").GetString())
            .ShouldBe(new[] { member.Email, viewer.Email }.Order(StringComparer.Ordinal));
        (await ListAsync(Admin)).Single(g => g.Id == id).MemberCount.ShouldBe(2);

        using var removed = await Admin.DeleteAsync($"/api/v1/groups/{id}/members/{viewer.UserId}");
        await removed.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        using var notMember = await Admin.DeleteAsync($"/api/v1/groups/{id}/members/{viewer.UserId}");
        await notMember.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.member_not_found");
        using var unknown = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = Guid.NewGuid() });
        await unknown.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "group.unknown_user");
        using var noGroup = await Admin.PostAsJsonAsync($"/api/v1/groups/{Guid.NewGuid()}/members", new { userId = member.UserId });
        await noGroup.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");

        (await MembershipRowsAsync(id)).ShouldBe(1);
        using var deleted = await Admin.DeleteAsync($"/api/v1/groups/{id}");
        await deleted.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        (await MembershipRowsAsync(id)).ShouldBe(0);
        using var stillUser = await Admin.GetAsync($"/api/v1/users/{member.UserId}");
        await stillUser.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData("Member")]
    [InlineData("Viewer")]
    [InlineData("Auditor")]
    public async Task Non_admins_list_groups_and_change_nothing(string role)
    {
        var name = Unique($"Seen by {role}");
        var id = await CreateAsync(name);
        var user = await Tenant.CreateUserAsync(role);

        (await ListAsync(user.Client)).ShouldContain(g => g.Id == id);
        using (var get = await user.Client.GetAsync($"/api/v1/groups/{id}"))
        {
            await get.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
        }
        HttpRequestMessage[] changes =
        [
            new(HttpMethod.Post, "/api/v1/groups") { Content = JsonContent.Create(new { name = Unique("Mine") }) },
            new(HttpMethod.Patch, $"/api/v1/groups/{id}") { Content = JsonContent.Create(new { name = Unique("Renamed") }) },
            new(HttpMethod.Post, $"/api/v1/groups/{id}/members") { Content = JsonContent.Create(new { userId = user.UserId }) },
            new(HttpMethod.Delete, $"/api/v1/groups/{id}/members/{user.UserId}"),
            new(HttpMethod.Delete, $"/api/v1/groups/{id}"),
        ];
        foreach (var change in changes)
        {
            using (change)
            using (var response = await user.Client.SendAsync(change))
            {
                await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
            }
        }
        var unchanged = await (await Admin.GetAsync($"/api/v1/groups/{id}")).JsonAsync();
        unchanged.GetProperty("name").GetString().ShouldBe(name);
        unchanged.GetProperty("memberCount").GetInt32().ShouldBe(0);
    }

    [Fact]
    public async Task Another_tenant_neither_sees_nor_reaches_the_groups_and_its_users_cannot_join()
    {
        var id = await CreateAsync(Unique("Private"));
        var member = await Tenant.CreateUserAsync("Member");
        using (var add = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId }))
        {
            await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        var other = await Tenant.App.CreateTenantAsync();
        var intruder = other.Admin.Client;

        (await ListAsync(intruder)).ShouldNotContain(g => g.Id == id);
        using (var get = await intruder.GetAsync($"/api/v1/groups/{id}"))
        {
            await get.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        }
        using (var rename = await intruder.PatchAsJsonAsync($"/api/v1/groups/{id}", new { name = "Taken over" }))
        {
            await rename.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        }
        using (var join = await intruder.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId }))
        {
            await join.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        }
        using (var remove = await intruder.DeleteAsync($"/api/v1/groups/{id}/members/{member.UserId}"))
        {
            await remove.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        }
        using (var delete = await intruder.DeleteAsync($"/api/v1/groups/{id}"))
        {
            await delete.ShouldBeProblemAsync(HttpStatusCode.NotFound, "group.not_found");
        }
        // A user of the other tenant is nobody here.
        var stranger = await other.CreateUserAsync("Member");
        using (var foreign = await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = stranger.UserId }))
        {
            await foreign.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "group.unknown_user");
        }
        var unchanged = await (await Admin.GetAsync($"/api/v1/groups/{id}")).JsonAsync();
        unchanged.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("userId").GetGuid()).ShouldBe([member.UserId]);
    }

    [Fact]
    public async Task Every_change_is_audited_once()
    {
        var id = await CreateAsync(Unique("Audited"));
        var member = await Tenant.CreateUserAsync("Member");
        (await Admin.PatchAsJsonAsync($"/api/v1/groups/{id}", new { name = Unique("Audited again") })).Dispose();
        (await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId })).Dispose();
        (await Admin.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId })).Dispose();
        (await Admin.DeleteAsync($"/api/v1/groups/{id}/members/{member.UserId}")).Dispose();
        (await Admin.DeleteAsync($"/api/v1/groups/{id}")).Dispose();

        var events = (await (await Admin.GetAsync($"/api/v1/audit?entityId={id}&limit=50")).JsonAsync()).GetProperty("items").EnumerateArray().Reverse().ToList();
        events.Select(e => e.GetProperty("action").GetString())
            .ShouldBe(["group.created", "group.renamed", "group.member_added", "group.member_removed", "group.deleted"]);
        events.ShouldAllBe(e => e.GetProperty("entityType").GetString() == "group" && e.GetProperty("actorLabel").GetString() == Tenant.Admin.Email);
        events[2].GetProperty("data").GetProperty("userId").GetGuid().ShouldBe(member.UserId);
    }

    [Fact]
    public async Task Admins_manage_groups_on_the_admin_page_and_others_are_turned_away()
    {
        var name = Unique("Page");
        var member = await Tenant.CreateUserAsync("Member");
        var ui = await Tenant.SignInToUiAsync(Tenant.Admin);

        var page = await ui.GetStringAsync("/admin/groups");
        using (var create = await ui.PostFormAsync("/admin/groups?handler=Create", page, new() { ["name"] = name }))
        {
            create.StatusCode.ShouldBe(HttpStatusCode.Redirect, await create.Content.ReadAsStringAsync());
        }
        var id = (await ListAsync(Admin)).Single(g => g.Name == name).Id;
        page = await ui.GetStringAsync($"/admin/groups?id={id}");
        using (var add = await ui.PostFormAsync($"/admin/groups?id={id}&handler=Add", page, new() { ["userId"] = member.UserId.ToString() }))
        {
            add.StatusCode.ShouldBe(HttpStatusCode.Redirect, await add.Content.ReadAsStringAsync());
        }

        using var shown = await ui.GetAsync($"/admin/groups?id={id}");
        shown.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await shown.Content.ReadAsStringAsync();
        html.ShouldContain($"<h2 class=\"h3\">{name}</h2>");
        html.ShouldContain($"<td>{member.Email}</td>");
        html.ShouldContain("href=\"/admin/groups\"", Case.Sensitive, "the navigation links the page");

        using (var duplicate = await ui.PostFormAsync("/admin/groups?handler=Create", html, new() { ["name"] = name.ToUpperInvariant() }))
        {
            duplicate.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await duplicate.Content.ReadAsStringAsync()).ShouldContain("A group with this name already exists.");
        }

        var memberUi = await Tenant.SignInToUiAsync(member);
        using var denied = await memberUi.GetAsync("/admin/groups");
        denied.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        new Uri(new Uri("http://localhost"), denied.Headers.Location!).AbsolutePath.ShouldBe("/denied");
    }

    private static string Unique(string prefix) => $"{prefix} {Guid.NewGuid():N}"[..(prefix.Length + 9)];

    private async Task<Guid> CreateAsync(string name)
    {
        using var response = await Admin.PostAsJsonAsync("/api/v1/groups", new { name });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<List<(Guid Id, string Name, int MemberCount)>> ListAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/api/v1/groups");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync()).GetProperty("items").EnumerateArray()
            .Select(g => (g.GetProperty("id").GetGuid(), g.GetProperty("name").GetString()!, g.GetProperty("memberCount").GetInt32())).ToList();
    }

    /// <summary>Membership rows of a group as the schema owner sees them (the API cannot show a deleted group's).</summary>
    private async Task<long> MembershipRowsAsync(Guid groupId)
    {
        await using var c = new NpgsqlConnection(Tenant.App.OwnerConnectionString);
        await c.OpenAsync();
        await StoredState.EnterTenantAsync(c, Tenant.Id);
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM user_group_members WHERE tenant_id = @tenant AND group_id = @group", c);
        cmd.Parameters.AddWithValue("tenant", Tenant.Id);
        cmd.Parameters.AddWithValue("group", groupId);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
