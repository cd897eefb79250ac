using Dms.Modules.Access.Login;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.IdentityModel.JsonWebTokens;

namespace Dms.Pages;

/// <summary>Sign-in with the API's own login handler (lockout, audit, rate limit), then a cookie with the token's claims.</summary>
internal sealed class LoginModel : UiPage
{
    [BindProperty]
    public string? Tenant { get; set; }

    [BindProperty]
    public string? Email { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Notice { get; set; }

    public void OnGet(int? throttled, bool? signedOut)
    {
        if (throttled is { } seconds)
        {
            Error = $"Too many sign-in attempts from this address; wait {seconds} seconds before trying again.";
        }
        if (signedOut == true)
        {
            Notice = "You are signed out.";
        }
    }

    public async Task<IActionResult> OnPostAsync([FromServices] SignInHandler signIn, CancellationToken ct)
    {
        try
        {
            var tokens = await signIn.HandleAsync(new SignIn(Tenant ?? "", Email ?? "", Password ?? ""), ct);
            var claims = new JsonWebTokenHandler().ReadJsonWebToken(tokens.AccessToken).Claims;
            await HttpContext.SignInAsync(UiModule.Scheme, UiModule.Principal(claims, tokens.RefreshToken));
            return LocalRedirect(Url.IsLocalUrl(ReturnUrl) && ReturnUrl != "/" ? ReturnUrl : "/documents");
        }
        catch (ApiProblem problem)
        {
            Error = problem.Code switch
            {
                "validation.failed" => "Enter your organisation, e-mail and password.",
                "auth.invalid_credentials" => "The organisation, e-mail or password is wrong.",
                _ => Plain(problem),
            };
            Response.StatusCode = problem.Status == StatusCodes.Status400BadRequest ? StatusCodes.Status422UnprocessableEntity : problem.Status;
            Password = null;
            return Page();
        }
    }
}
