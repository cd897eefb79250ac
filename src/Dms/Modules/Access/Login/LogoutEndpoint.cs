using Dapper;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Modules.Access.Login;

/// <summary>
/// <c>POST /api/v1/auth/logout {refreshToken}</c>: ends that sign-in by revoking every refresh token of its
/// family, whichever token of the family is presented (the latest or an already rotated one). Always 204, so it
/// reveals nothing about the token; the short-lived access token expires on its own.
/// </summary>
internal static class LogoutEndpoint
{
    public static async Task<IResult> Handle(RefreshRequest body, Db db, AuditTrail audit, CancellationToken ct)
    {
        if (RefreshTokens.TryParseTenant(body.RefreshToken, out var tenantId))
        {
            var hash = RefreshTokens.Hash(body.RefreshToken);
            await db.InTenantAsync(tenantId, async (c, tx) =>
            {
                if (await RefreshFamilies.LockAsync(c, tx, tenantId, hash, ct) is not { } family)
                {
                    return;
                }
                // Every token of the sign-in, the used ones and the one a racing refresh just issued included
                // (after a refresh the family has several rows: reading "the" user with a single-row query was a 500).
                var (user, _) = await RefreshFamilies.RevokeAsync(c, tx, tenantId, family, ct);
                if (user is { } userId)
                {
                    await audit.RecordAsync(c, tx, "auth.logout", "user", userId, null, new AuditActor("user", userId, "refresh token holder"), ct);
                }
            }, ct);
        }
        return Results.NoContent();
    }
}
