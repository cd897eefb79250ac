using System.Security.Claims;
using Dapper;
using Dms.Platform.Database;
using Microsoft.AspNetCore.Authentication.JwtBearer;

namespace Dms.Platform.Security;

/// <summary>
/// Runs after a token's signature and lifetime check: the user must still exist and be enabled, and the
/// role in force is the one stored now, not the one the token was issued with. One indexed lookup per request.
/// </summary>
internal static class AccountCheck
{
    public static async Task ValidateAsync(TokenValidatedContext context)
    {
        if (context.Principal is not { } principal ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Subject), out var userId) ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Tenant), out var tenantId))
        {
            context.Fail("The token names no user.");
            return;
        }
        var db = context.HttpContext.RequestServices.GetRequiredService<Db>();
        var account = await db.InTenantAsync(tenantId, (c, tx) => c.QuerySingleOrDefaultAsync<(string Role, bool Disabled)?>(new CommandDefinition(
            "SELECT role, disabled FROM users WHERE tenant_id = @tenantId AND id = @userId", new { tenantId, userId }, tx,
            cancellationToken: context.HttpContext.RequestAborted)), context.HttpContext.RequestAborted);
        if (account is not { Disabled: false } current)
        {
            context.Fail("The account is disabled or gone.");
            return;
        }
        if (principal.FindFirstValue(DmsClaims.Role) != current.Role && principal.Identity is ClaimsIdentity identity)
        {
            foreach (var stale in identity.FindAll(DmsClaims.Role).ToList())
            {
                identity.RemoveClaim(stale);
            }
            identity.AddClaim(new Claim(DmsClaims.Role, current.Role));
        }
    }
}
