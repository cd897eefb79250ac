using Dms.Modules.Access.Passwords;
using Dms.Ui;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Dms.Pages.Account;

/// <summary>
/// Change your password (the API's handler): also where a user with a reset or generated password is sent until
/// they have chosen their own. The change ends every other session; this one continues on the new sign-in.
/// </summary>
internal sealed class PasswordModel : UiPage
{
    [BindProperty]
    public string? CurrentPassword { get; set; }

    [BindProperty]
    public string? NewPassword { get; set; }

    [BindProperty]
    public string? ConfirmPassword { get; set; }

    public bool Required => User.HasClaim(Platform.Security.DmsClaims.MustChangePassword, "true");

    public async Task<IActionResult> OnPostAsync([FromServices] ChangePasswordHandler change, CancellationToken ct)
    {
        if (NewPassword != ConfirmPassword)
        {
            Error = "The new password and its confirmation differ.";
            Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            return Page();
        }
        return await Attempt(async () =>
        {
            var tokens = await change.HandleAsync(new ChangePassword(CurrentPassword ?? "", NewPassword ?? ""), Me, ct);
            var claims = new JsonWebTokenHandler().ReadJsonWebToken(tokens.AccessToken).Claims;
            await HttpContext.SignInAsync(UiModule.Scheme, UiModule.Principal(claims, tokens.RefreshToken));
            return Done("Your password is changed; your other sessions are signed out.", "/documents");
        }, () => Task.FromResult<IActionResult>(Page()));
    }
}
