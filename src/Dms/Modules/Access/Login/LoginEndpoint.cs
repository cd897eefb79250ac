using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Login;

internal sealed record LoginRequest(string Tenant, string Email, string Password);

internal sealed record TokenResponse(string AccessToken, string RefreshToken, int ExpiresIn, string TokenType = "Bearer");

/// <summary><c>POST /api/v1/auth/login</c>: tenant slug, e-mail and password for an access and a refresh token.</summary>
internal static class LoginEndpoint
{
    public static async Task<IResult> Handle(LoginRequest body, [FromServices] SignInHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new SignIn(body.Tenant, body.Email, body.Password), ct));
}
