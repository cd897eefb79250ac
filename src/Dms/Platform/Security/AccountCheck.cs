using System.Security.Claims;
using Dapper;
using Dms.Platform.Database;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;

namespace Dms.Platform.Security;

/// <summary>
/// Runs after a token's signature and lifetime check (and on every UI cookie request): the user must still
/// exist and be enabled, and the role in force is the one stored now, not the one the token or cookie was
/// issued with. One indexed lookup per request.
/// </summary>
internal static class AccountCheck
{
    public static async Task ValidateAsync(TokenValidatedContext context)
    {
        if (await CurrentAsync(context.HttpContext, context.Principal) is { } failure)
        {
            context.Fail(failure);
        }
    }

    /// <summary>The UI cookie gets the same check as a bearer token: a disabled user is signed out at once.</summary>
    public static async Task ValidateCookieAsync(CookieValidatePrincipalContext context)
    {
        if (await CurrentAsync(context.HttpContext, context.Principal) is not null || !await SignInInForceAsync(context.HttpContext, context.Principal!))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(context.Scheme.Name);
        }
    }

    /// <summary>
    /// A UI session lives as long as the sign-in it was made from: its refresh token (kept in the encrypted
    /// cookie) must be unrevoked and unexpired. Signing out, reuse detection and disabling a user revoke it, so a
    /// copied cookie dies with them, and no session outlives the refresh token's absolute lifetime.
    /// </summary>
    private static async Task<bool> SignInInForceAsync(HttpContext http, ClaimsPrincipal principal)
    {
        if (principal.FindFirstValue(Ui.UiModule.RefreshClaim) is not { } refresh ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Tenant), out var tenantId))
        {
            return false;
        }
        var db = http.RequestServices.GetRequiredService<Db>();
        return await db.InTenantAsync(tenantId, (c, tx) => c.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM refresh_tokens
                           WHERE tenant_id = @tenantId AND token_hash = @hash AND revoked_at IS NULL AND used_at IS NULL AND expires_at > now())
            """, new { tenantId, hash = RefreshTokens.Hash(refresh) }, tx, cancellationToken: http.RequestAborted)), http.RequestAborted);
    }

    /// <summary>Null when the account is in force (with its stored role applied to the principal), else why not.</summary>
    private static async Task<string?> CurrentAsync(HttpContext http, ClaimsPrincipal? principal)
    {
        if (principal is null ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Subject), out var userId) ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Tenant), out var tenantId))
        {
            return "The token names no user.";
        }
        var db = http.RequestServices.GetRequiredService<Db>();
        var account = await db.InTenantAsync(tenantId, (c, tx) => c.QuerySingleOrDefaultAsync<(string Role, bool Disabled)?>(new CommandDefinition(
            "SELECT role, disabled FROM users WHERE tenant_id = @tenantId AND id = @userId", new { tenantId, userId }, tx,
            cancellationToken: http.RequestAborted)), http.RequestAborted);
        if (account is not { Disabled: false } current)
        {
            return "The account is disabled or gone.";
        }
        if (principal.FindFirstValue(DmsClaims.Role) != current.Role && principal.Identity is ClaimsIdentity identity)
        {
            foreach (var stale in identity.FindAll(DmsClaims.Role).ToList())
            {
                identity.RemoveClaim(stale);
            }
            identity.AddClaim(new Claim(DmsClaims.Role, current.Role));
        }
        return null;
    }
}
