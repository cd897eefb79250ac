using Dms.Modules.Access.Login;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>Sign-out: revokes the sign-in's refresh-token family (the API's logout handler, audited) and drops the cookie.</summary>
internal sealed class LogoutModel : UiPage
{
    public async Task<IActionResult> OnPostAsync([FromServices] LogoutHandler logout, CancellationToken ct)
    {
        if (User.FindFirst(DmsClaims.SessionRefreshToken)?.Value is { } refresh)
        {
            await logout.HandleAsync(new Logout(refresh), ct);
        }
        await HttpContext.SignOutAsync(UiModule.Scheme);
        return Redirect("/login?signedOut=true");
    }
}
