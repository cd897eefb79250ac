using Dapper;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Modules.Access.Login;

/// <summary>
/// <c>POST /api/v1/auth/logout {refreshToken}</c>: ends that sign-in by revoking every refresh token of its
/// family. Always 204, so it reveals nothing about the token; the short-lived access token expires on its own.
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
                var user = await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition("""
                    UPDATE refresh_tokens SET revoked_at = now()
                    WHERE tenant_id = @tenantId AND revoked_at IS NULL
                      AND family_id = (SELECT family_id FROM refresh_tokens WHERE tenant_id = @tenantId AND token_hash = @hash)
                    RETURNING user_id
                    """, new { tenantId, hash }, tx, cancellationToken: ct));
                if (user is { } userId)
                {
                    await audit.RecordAsync(c, tx, "auth.logout", "user", userId, null, new AuditActor("user", userId, "refresh token holder"), ct);
                }
            }, ct);
        }
        return Results.NoContent();
    }
}
