using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>GET /workspaces/{id}/folders and the ancestor path of GET /folders/{id}: what folder navigation needs.</summary>
public sealed class FolderNavigationTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => Tenant.Admin.Client;

    private async Task<Guid> CreateFolderAsync(Guid workspaceId, string name, Guid? parentId = null)
    {
        using var response = await Admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId, parentId, name });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    [Fact]
    public async Task A_workspace_lists_its_top_level_folders_by_name_and_a_folder_its_ancestors()
    {
        using var ws = await Admin.PostAsJsonAsync("/api/v1/workspaces", new { name = $"nav {Guid.NewGuid():N}" });
        await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var workspaceId = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        var zeta = await CreateFolderAsync(workspaceId, "zeta");
        var alpha = await CreateFolderAsync(workspaceId, "Alpha");
        var child = await CreateFolderAsync(workspaceId, "child", alpha);
        var grandchild = await CreateFolderAsync(workspaceId, "grandchild", child);

        using var list = await Admin.GetAsync($"/api/v1/workspaces/{workspaceId}/folders");
        await list.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var items = (await list.JsonAsync()).GetProperty("items").EnumerateArray().ToList();
        items.Select(f => f.GetProperty("id").GetGuid()).ShouldBe([alpha, zeta]);
        items[0].GetProperty("parentId").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        using var empty = await Admin.GetAsync($"/api/v1/workspaces/{Tenant.DefaultWorkspaceId}/folders");
        await empty.ShouldHaveStatusAsync(HttpStatusCode.OK);

        var deep = await (await Admin.GetAsync($"/api/v1/folders/{grandchild}")).JsonAsync();
        deep.GetProperty("path").EnumerateArray().Select(f => f.GetProperty("name").GetString()).ShouldBe(["Alpha", "child"]);
        var top = await (await Admin.GetAsync($"/api/v1/folders/{alpha}")).JsonAsync();
        top.GetProperty("path").GetArrayLength().ShouldBe(0);
        top.GetProperty("children").EnumerateArray().Select(f => f.GetProperty("id").GetGuid()).ShouldBe([child]);
    }

    [Fact]
    public async Task An_unreadable_or_unknown_workspace_is_404_and_a_viewer_of_a_readable_one_may_list()
    {
        using var ws = await Admin.PostAsJsonAsync("/api/v1/workspaces", new { name = $"private {Guid.NewGuid():N}" });
        var workspaceId = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        await CreateFolderAsync(workspaceId, "secret");
        var member = await Tenant.CreateUserAsync("Member");

        using var hidden = await member.Client.GetAsync($"/api/v1/workspaces/{workspaceId}/folders");
        await hidden.ShouldBeProblemAsync(HttpStatusCode.NotFound, "workspace.not_found");
        using var unknown = await member.Client.GetAsync($"/api/v1/workspaces/{Guid.NewGuid()}/folders");
        await unknown.ShouldBeProblemAsync(HttpStatusCode.NotFound, "workspace.not_found");
        using var bad = await member.Client.GetAsync("/api/v1/workspaces/not-a-guid/folders");
        await bad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_id");

        var viewer = await Tenant.CreateUserAsync("Viewer");
        using var add = await Admin.PostAsJsonAsync($"/api/v1/workspaces/{workspaceId}/members", new { userId = viewer.UserId, role = "Viewer" });
        await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
        using var visible = await viewer.Client.GetAsync($"/api/v1/workspaces/{workspaceId}/folders");
        await visible.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await visible.JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(1);

        var other = await Tenant.App.CreateTenantAsync();
        using var foreign = await other.Admin.Client.GetAsync($"/api/v1/workspaces/{workspaceId}/folders");
        await foreign.ShouldBeProblemAsync(HttpStatusCode.NotFound, "workspace.not_found");
    }
}
