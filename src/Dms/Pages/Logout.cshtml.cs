using Dms.Modules.Access.Login;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Ui;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>Sign-out: revokes the sign-in's refresh-token family (the API's logout handler, audited) and drops the cookie.</summary>
internal sealed class LogoutModel(Db db, AuditTrail audit) : UiPage
{
    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (User.FindFirst(UiModule.RefreshClaim)?.Value is { } refresh)
        {
            await LogoutEndpoint.Handle(new RefreshRequest(refresh), db, audit, ct);
        }
        await HttpContext.SignOutAsync(UiModule.Scheme);
        return Redirect("/login?signedOut=true");
    }
}
