using System.Security.Claims;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Modules.Access;

/// <summary>
/// Runs after a token's signature and lifetime check (and on every UI cookie request): the user must still
/// exist and be enabled, and the role in force is the one stored now, not the one the token or cookie was
/// issued with. One indexed lookup per request. The UI cookie also needs its sign-in in force: a UI session lives
/// as long as the refresh token it was made from (unrevoked, unused, unexpired), so signing out, reuse detection
/// and disabling a user end it, and no session outlives the refresh token's absolute lifetime.
/// </summary>
internal sealed class AccountCheck(Db db) : IAccountCheck
{
    /// <summary>Null when the account (and with <paramref name="requireSignIn"/>, its sign-in) is in force, with its stored role applied to the principal; else why not.</summary>
    public async Task<string?> CheckAsync(HttpContext http, ClaimsPrincipal? principal, bool requireSignIn)
    {
        if (principal is null ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Subject), out var userId) ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Tenant), out var tenantId))
        {
            return "The token names no user.";
        }
        byte[]? refreshHash = null;
        if (requireSignIn)
        {
            if (principal.FindFirstValue(DmsClaims.SessionRefreshToken) is not { } refresh)
            {
                return "The session names no sign-in.";
            }
            refreshHash = RefreshTokens.Hash(refresh);
        }
        // One round trip per request: the account, and the sign-in when asked.
        var account = await db.InTenantAsync(tenantId, (c, tx) => AccountStatus.ReadAsync(c, tx, tenantId, userId, refreshHash, http.RequestAborted), http.RequestAborted);
        if (account is not { Disabled: false } current)
        {
            return "The account is disabled or gone.";
        }
        if (!current.SignedIn)
        {
            return "The sign-in has ended.";
        }
        if (principal.FindFirstValue(DmsClaims.Role) != current.Role && principal.Identity is ClaimsIdentity identity)
        {
            foreach (var stale in identity.FindAll(DmsClaims.Role).ToList())
            {
                identity.RemoveClaim(stale);
            }
            identity.AddClaim(new Claim(DmsClaims.Role, current.Role));
        }
        if (principal.Identity is ClaimsIdentity id)
        {
            // Decided from the stored account on each request, so a change takes effect on the very next one.
            foreach (var stale in id.FindAll(DmsClaims.MustChangePassword).ToList())
            {
                id.RemoveClaim(stale);
            }
            if (current.MustChangePassword)
            {
                id.AddClaim(new Claim(DmsClaims.MustChangePassword, "true"));
            }
        }
        return null;
    }
}
