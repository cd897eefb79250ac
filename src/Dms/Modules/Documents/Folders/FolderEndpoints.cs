using Dms.Modules.Documents.Domain;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Folders;

internal sealed record CreateFolderRequest(string WorkspaceId, string? ParentId, string Name);

internal sealed record FolderResponse(Guid Id, Guid WorkspaceId, Guid? ParentId, string Name, DateTime CreatedAt);

internal sealed record FolderContentsResponse(Guid Id, Guid WorkspaceId, Guid? ParentId, string Name, DateTime CreatedAt,
    IEnumerable<FolderResponse> Children, Page<DocumentResponse> Documents, IEnumerable<FolderResponse> Path);

/// <summary><c>/api/v1/folders</c>: a tree per workspace; sibling names are unique case-insensitively.</summary>
internal static class FolderEndpoints
{
    public static async Task<IResult> Create(HttpContext http, CreateFolderRequest body, [FromServices] CreateFolderHandler handler, CancellationToken ct)
    {
        var folder = await handler.HandleAsync(new CreateFolder(body.WorkspaceId, body.ParentId, body.Name), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/folders/{folder.Id}", folder);
    }

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetFolderHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetFolder(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    /// <summary><c>GET /api/v1/workspaces/{id}/folders</c>: the workspace's top-level folders, by name; 404 when it is not readable.</summary>
    public static async Task<IResult> TopLevel(HttpContext http, string id, [FromServices] ListTopLevelFoldersHandler handler, CancellationToken ct)
    {
        var items = await handler.HandleAsync(new ListTopLevelFolders(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.Ok(new { items });
    }
}
