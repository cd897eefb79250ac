using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Groups;

internal sealed record GroupNameRequest(string? Name);

internal sealed record AddGroupMemberRequest(string? UserId);

/// <summary>
/// <c>/api/v1/groups</c>: groups of the tenant's users, which approval policies name as approvers. Tenant admins
/// manage them; anyone signed in to the tenant may list them.
/// </summary>
internal static class GroupEndpoints
{
    public static async Task<IResult> Create(HttpContext http, GroupNameRequest body, [FromServices] CreateGroupHandler handler, CancellationToken ct)
    {
        var group = await handler.HandleAsync(new CreateGroup(body.Name), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/groups/{group.Id}", group);
    }

    public static async Task<IResult> List(HttpContext http, [FromServices] ListGroupsHandler handler, CancellationToken ct)
    {
        var items = await handler.HandleAsync(new ListGroups(), CurrentUser.From(http.User), ct);
        return Results.Ok(new { items });
    }

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetGroupHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var groupId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new GetGroup(groupId), me, ct));
    }

    public static async Task<IResult> Rename(HttpContext http, string id, GroupNameRequest body, [FromServices] RenameGroupHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var groupId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new RenameGroup(groupId, body.Name), me, ct));
    }

    public static async Task<IResult> Delete(HttpContext http, string id, [FromServices] DeleteGroupHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var groupId = RouteIds.Parse(id);
        await handler.HandleAsync(new DeleteGroup(groupId), me, ct);
        return Results.NoContent();
    }

    public static async Task<IResult> AddMember(HttpContext http, string id, AddGroupMemberRequest body, [FromServices] AddGroupMemberHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var groupId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new AddGroupMember(groupId, body.UserId), me, ct));
    }

    public static async Task<IResult> RemoveMember(HttpContext http, string id, string userId, [FromServices] RemoveGroupMemberHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var groupId = RouteIds.Parse(id);
        var memberId = RouteIds.Parse(userId, "userId");
        await handler.HandleAsync(new RemoveGroupMember(groupId, memberId), me, ct);
        return Results.NoContent();
    }
}
