using Dms.Modules.Access.Login;
using Dms.Modules.Access.Passwords;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Dms.Pages.Account;

/// <summary>
/// Change your password (the API's handler): also where a user with a reset or generated password is sent until
/// they have chosen their own. The change ends every other session; this one continues on the new sign-in.
/// </summary>
internal sealed class PasswordModel(Db db, IPasswordHasher<UserAccount> hasher, IssueTokens issue, AuditTrail audit, LoginThrottle throttle) : UiPage
{
    [BindProperty]
    public string? CurrentPassword { get; set; }

    [BindProperty]
    public string? NewPassword { get; set; }

    [BindProperty]
    public string? ConfirmPassword { get; set; }

    public bool Required => User.HasClaim(Platform.Security.DmsClaims.MustChangePassword, "true");

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        if (NewPassword != ConfirmPassword)
        {
            Error = "The new password and its confirmation differ.";
            Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            return Page();
        }
        return await Attempt(async () =>
        {
            var tokens = Value<TokenResponse>(await PasswordEndpoints.Change(HttpContext, new ChangePasswordRequest(CurrentPassword ?? "", NewPassword ?? ""),
                db, hasher, issue, audit, throttle, ct));
            var claims = new JsonWebTokenHandler().ReadJsonWebToken(tokens.AccessToken).Claims;
            await HttpContext.SignInAsync(UiModule.Scheme, UiModule.Principal(claims, tokens.RefreshToken));
            return Done("Your password is changed; your other sessions are signed out.", "/documents");
        }, () => Task.FromResult<IActionResult>(Page()));
    }
}
