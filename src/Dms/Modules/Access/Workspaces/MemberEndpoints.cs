using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Workspaces;

internal sealed record AddMemberRequest(string? UserId, string? Role);

/// <summary>
/// <c>GET/POST /api/v1/workspaces/{id}/members</c>, <c>DELETE /api/v1/workspaces/{id}/members/{userId}</c>: who may
/// read (<c>Viewer</c>), contribute (<c>Contributor</c>) and manage members (<c>Manager</c>) in a workspace.
/// Readers of the workspace see its members; its managers and tenant admins change them.
/// </summary>
internal static class MemberEndpoints
{
    public static async Task<IResult> List(HttpContext http, string id, [FromServices] ListMembersHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var items = await handler.HandleAsync(new ListMembers(workspaceId), me, ct);
        return Results.Ok(new { items });
    }

    public static async Task<IResult> Add(HttpContext http, string id, AddMemberRequest body, [FromServices] AddMemberHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new AddMember(workspaceId, body.UserId, body.Role), me, ct));
    }

    public static async Task<IResult> Remove(HttpContext http, string id, string userId, [FromServices] RemoveMemberHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var memberId = RouteIds.Parse(userId, "userId");
        await handler.HandleAsync(new RemoveMember(workspaceId, memberId), me, ct);
        return Results.NoContent();
    }
}
