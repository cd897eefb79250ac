using Dapper;
using Dms.Modules.Access.Login;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Access.Refresh;

/// <summary>A refresh token for a new pair in the same family.</summary>
internal sealed record RotateRefreshToken(string RefreshToken);

/// <summary>
/// A refresh token is good for one use. Using it marks it used (one conditional update, so two concurrent uses
/// cannot both succeed) and returns a new pair in the same family. Presenting a token that was already used revokes
/// its whole family: whoever holds a copy of a stolen token and the legitimate client both have to sign in again.
/// No current user: the refresh token is the only credential.
/// </summary>
internal sealed class RotateRefreshTokenHandler(Db db, IssueTokens issue, AuditTrail audit)
{
    private sealed record Rotated(Guid UserId, Guid FamilyId, string Role, string Email, bool Disabled);

    public async Task<TokenResponse> HandleAsync(RotateRefreshToken command, CancellationToken ct)
    {
        if (!RefreshTokens.TryParseTenant(command.RefreshToken, out var tenantId))
        {
            throw Invalid();
        }
        var hash = RefreshTokens.Hash(command.RefreshToken);
        var result = await db.InTenantAsync(tenantId, async (c, tx) =>
        {
            if (await RefreshFamilies.LockAsync(c, tx, tenantId, hash, ct) is not { } family)
            {
                return null;
            }
            var rotated = await c.QuerySingleOrDefaultAsync<Rotated>(new CommandDefinition("""
                UPDATE refresh_tokens r SET used_at = now()
                FROM users u
                WHERE r.tenant_id = @tenantId AND r.token_hash = @hash
                  AND r.used_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > now()
                  AND u.tenant_id = r.tenant_id AND u.id = r.user_id
                RETURNING r.user_id, r.family_id, u.role, u.email, u.disabled
                """, new { tenantId, hash }, tx, cancellationToken: ct));
            if (rotated is null)
            {
                // Reuse of a rotated token: revoke the family. Committed even though the caller gets a 401.
                var reused = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT used_at IS NOT NULL FROM refresh_tokens WHERE tenant_id = @tenantId AND token_hash = @hash",
                    new { tenantId, hash }, tx, cancellationToken: ct));
                var revoked = reused ? (await RefreshFamilies.RevokeAsync(c, tx, tenantId, family, ct)).Revoked : 0;
                if (revoked > 0)
                {
                    await audit.RecordAsync(c, tx, "auth.refresh_reuse_detected", "refresh_token_family", null,
                        new { revokedTokens = revoked }, AuditActor.Anonymous("refresh token holder"), ct);
                }
                return null;
            }
            if (rotated.Disabled)
            {
                return null;
            }
            return await issue.InFamilyAsync(c, tx, tenantId, rotated.UserId, rotated.Role, rotated.Email, rotated.FamilyId, ct);
        }, ct);
        return result ?? throw Invalid();
    }

    private static ApiProblem Invalid() =>
        new(StatusCodes.Status401Unauthorized, "auth.invalid_refresh_token", "The refresh token is invalid, expired, revoked or already used; sign in again.");
}
