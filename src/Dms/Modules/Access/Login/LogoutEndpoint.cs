using Dms.Modules.Access.Refresh;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Login;

/// <summary>
/// <c>POST /api/v1/auth/logout {refreshToken}</c>: ends that sign-in. Always 204, so it reveals nothing about the
/// token; the short-lived access token expires on its own.
/// </summary>
internal static class LogoutEndpoint
{
    public static async Task<IResult> Handle(RefreshRequest body, [FromServices] LogoutHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new Logout(body.RefreshToken), ct);
        return Results.NoContent();
    }
}
