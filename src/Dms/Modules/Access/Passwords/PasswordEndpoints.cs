using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Passwords;

internal sealed record ChangePasswordRequest(string CurrentPassword, string NewPassword);

/// <summary>
/// Passwords after the account exists: the owner changes theirs (<c>POST /api/v1/me/password</c>), a tenant admin
/// resets someone's to a temporary one shown once (<c>POST /api/v1/users/{id}/password-reset</c>). The operator's
/// reset from the command line is <see cref="PasswordStore.ResetFromCliAsync"/>. Every change is audited (never
/// with the password).
/// </summary>
internal static class PasswordEndpoints
{
    public static async Task<IResult> Change(HttpContext http, ChangePasswordRequest body, [FromServices] ChangePasswordHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ChangePassword(body.CurrentPassword, body.NewPassword), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Reset(HttpContext http, string id, [FromServices] ResetPasswordHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var userId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new ResetPassword(userId), me, ct));
    }
}
