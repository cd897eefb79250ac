using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// Uploads are refused before their bytes are read or stored when the caller may not write there, and a place
/// the caller cannot read answers exactly like an unknown one.
/// </summary>
public sealed class UploadTrustTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => Tenant.Admin.Client;

    private async Task<Guid> CreateWorkspaceAsync(string name)
    {
        using var ws = await Admin.PostAsJsonAsync("/api/v1/workspaces", new { name = $"{name} {Guid.NewGuid():N}" });
        await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await ws.JsonAsync()).GetProperty("id").GetGuid();
    }

    [Fact]
    public async Task A_viewer_uploading_to_a_workspace_is_refused_before_the_file_is_read_or_stored()
    {
        var workspaceId = await CreateWorkspaceAsync("read-only");
        var viewer = await Tenant.CreateUserAsync("Member");
        using (var add = await Admin.PostAsJsonAsync($"/api/v1/workspaces/{workspaceId}/members", new { userId = viewer.UserId, role = "Viewer" }))
        {
            await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        using var form = new MultipartFormDataContent
        {
            { new StringContent(workspaceId.ToString()), "workspaceId" },
            { new ByteArrayContent(Uploads.Pdf(100_000)), "file", "secret.pdf" },
        };
        using var response = await viewer.Client.PostAsync("/api/v1/documents", form);
        await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "workspace.forbidden");
        // That the body was not read is shown against the real server (Process/HttpConnectionTests).
        (await UploadSessionCountAsync(viewer.UserId)).ShouldBe(0, "no storage write was even registered");
    }

    [Fact]
    public async Task Placement_fields_after_the_file_part_are_refused()
    {
        var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(Uploads.Text("late")), "file", "late.txt" },
            { new StringContent(Tenant.DefaultWorkspaceId.ToString()), "workspaceId" },
        };
        using var response = await Admin.PostAsync("/api/v1/documents", form);
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task A_folder_in_an_unreadable_workspace_answers_like_an_unknown_folder_even_with_the_wrong_workspace()
    {
        var hidden = await CreateWorkspaceAsync("hidden");
        using var folder = await Admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId = hidden, name = "secret" });
        await folder.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var folderId = (await folder.JsonAsync()).GetProperty("id").GetGuid();
        var member = await Tenant.CreateUserAsync("Member");

        using var probe = await member.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = Tenant.DefaultWorkspaceId, parentId = folderId, name = "x" });
        using var unknown = await member.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = Tenant.DefaultWorkspaceId, parentId = Guid.NewGuid(), name = "x" });
        await unknown.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "folder.not_found");
        await probe.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "folder.not_found");

        using var upload = await member.Client.PostAsync("/api/v1/documents",
            Uploads.Form("x.txt", Uploads.Text("x"), workspaceId: Tenant.DefaultWorkspaceId, folderId: folderId));
        await upload.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "folder.not_found");

        // Someone who can read the folder still learns that the workspace does not match.
        using var admin = await Admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId = Tenant.DefaultWorkspaceId, parentId = folderId, name = "x" });
        await admin.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "folder.wrong_workspace");
    }

    private async Task<long> UploadSessionCountAsync(Guid userId)
    {
        await using var conn = new NpgsqlConnection(Tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM upload_sessions WHERE tenant_id = @tenant AND created_by = @user", conn, tx);
        cmd.Parameters.AddWithValue("tenant", Tenant.Id);
        cmd.Parameters.AddWithValue("user", userId);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
