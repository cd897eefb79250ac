using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Workspaces;

internal sealed record CreateWorkspaceRequest(string Name, string? Description);

internal sealed record WorkspaceResponse(Guid Id, string Name, string? Description, bool IsDefault, DateTime CreatedAt);

/// <summary><c>/api/v1/workspaces</c>: department or project scopes. Every tenant has a default one.</summary>
internal static class WorkspaceEndpoints
{
    public static async Task<IResult> List(HttpContext http, [FromServices] ListWorkspacesHandler handler, CancellationToken ct)
    {
        var items = await handler.HandleAsync(new ListWorkspaces(), CurrentUser.From(http.User), ct);
        return Results.Ok(new { items });
    }

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetWorkspaceHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetWorkspace(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Create(HttpContext http, CreateWorkspaceRequest body, [FromServices] CreateWorkspaceHandler handler, CancellationToken ct)
    {
        var workspace = await handler.HandleAsync(new CreateWorkspace(body.Name, body.Description), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/workspaces/{workspace.Id}", workspace);
    }
}
