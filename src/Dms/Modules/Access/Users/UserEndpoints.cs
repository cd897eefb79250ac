using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Users;

internal sealed record CreateUserRequest(string Email, string Password, string Role, string? DisplayName);

internal sealed record UpdateUserRequest(string? Role, bool? Disabled, string? DisplayName);

/// <summary>Tenant admins manage the tenant's users: <c>/api/v1/users</c>. There is no public sign-up.</summary>
internal static class UserEndpoints
{
    public static async Task<IResult> Create(HttpContext http, CreateUserRequest body, [FromServices] CreateUserHandler handler, CancellationToken ct)
    {
        var user = await handler.HandleAsync(new CreateUser(body.Email, body.Password, body.Role, body.DisplayName), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/users/{user.Id}", user);
    }

    public static async Task<IResult> ListAll(HttpContext http, [FromServices] ListUsersHandler handler, CancellationToken ct)
    {
        var users = await handler.HandleAsync(new ListUsers(), CurrentUser.From(http.User), ct);
        return Results.Ok(new { items = users });
    }

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetUserHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var userId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new GetUser(userId), me, ct));
    }

    public static async Task<IResult> Update(HttpContext http, string id, UpdateUserRequest body, [FromServices] UpdateUserHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var userId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new UpdateUser(userId, body.Role, body.Disabled, body.DisplayName), me, ct));
    }
}
