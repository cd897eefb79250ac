using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Shouldly;

namespace Dms.Tests.Organise;

/// <summary>What the organising tests share: workspaces of their own with chosen members, uploads into them, list pages.</summary>
internal static class Organising
{
    /// <summary>A fresh workspace with each of <paramref name="members"/> in the role given.</summary>
    public static async Task<Guid> WorkspaceAsync(ApprovalFixture f, params (SignedIn Who, string Role)[] members)
    {
        using var created = await f.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Organise {Guid.NewGuid():N}" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var id = (await created.JsonAsync()).GetProperty("id").GetGuid();
        foreach (var (who, role) in members)
        {
            using var added = await f.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{id}/members", new { userId = who.UserId, role });
            await added.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        return id;
    }

    public static async Task<Guid> FolderAsync(SignedIn who, Guid workspace, string name = "Filed")
    {
        using var created = await who.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = workspace.ToString(), name = $"{name} {Guid.NewGuid():N}"[..20] });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await created.JsonAsync()).GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> UploadAsync(SignedIn who, Guid workspace, string content, string? title = null)
    {
        using var response = await who.Client.PostAsync("/api/v1/documents",
            Uploads.Form("o.txt", Uploads.Text(content), title ?? $"Doc {Guid.NewGuid():N}", workspaceId: workspace));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    public static async Task<List<JsonElement>> ListAsync(SignedIn who, string query)
    {
        using var response = await who.Client.GetAsync($"/api/v1/documents?{query}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return [.. (await response.JsonAsync()).GetProperty("items").EnumerateArray()];
    }

    public static async Task<string> ETagAsync(SignedIn who, Guid documentId)
    {
        using var response = await who.Client.GetAsync($"/api/v1/documents/{documentId}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return response.Headers.ETag!.Tag;
    }
}
