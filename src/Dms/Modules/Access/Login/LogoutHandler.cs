using Dms.Modules.Access.Refresh;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Modules.Access.Login;

/// <summary>Ends the sign-in the refresh token belongs to; an unknown or malformed token changes nothing.</summary>
internal sealed record Logout(string RefreshToken);

/// <summary>
/// Revokes every refresh token of the presented token's family, whichever token of the family it is (the latest or
/// an already rotated one). No current user: the refresh token is the only credential. Reports nothing, so it
/// reveals nothing about the token.
/// </summary>
internal sealed class LogoutHandler(Db db, AuditTrail audit)
{
    public async Task HandleAsync(Logout command, CancellationToken ct)
    {
        if (!RefreshTokens.TryParseTenant(command.RefreshToken, out var tenantId))
        {
            return;
        }
        var hash = RefreshTokens.Hash(command.RefreshToken);
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
}
