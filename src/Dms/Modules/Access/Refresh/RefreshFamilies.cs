using Dapper;
using Npgsql;

namespace Dms.Modules.Access.Refresh;

/// <summary>
/// Refresh, logout and reuse detection all act on a whole token family; each takes the family's lock first, so
/// a logout racing a refresh either revokes the token that refresh issues (refresh first) or makes the refresh
/// fail (logout first). Without it, a logout's UPDATE could miss a token inserted by a refresh committing during it.
/// </summary>
internal static class RefreshFamilies
{
    // Two-int advisory keys live in a space apart from the one-bigint keys the background jobs use.
    private const int LockClass = 7101;

    /// <summary>Locks the family of the token with <paramref name="hash"/> until the transaction ends; null when unknown.</summary>
    public static async Task<Guid?> LockAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, byte[] hash, CancellationToken ct)
    {
        var family = await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT family_id FROM refresh_tokens WHERE tenant_id = @tenantId AND token_hash = @hash",
            new { tenantId, hash }, tx, cancellationToken: ct));
        if (family is { } id)
        {
            await c.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@cls, hashtext(@family))",
                new { cls = LockClass, family = id.ToString() }, tx, cancellationToken: ct));
        }
        return family;
    }

    /// <summary>Revokes every live token of the family (rows locked in id order); returns the user and how many were revoked.</summary>
    public static async Task<(Guid? UserId, int Revoked)> RevokeAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, Guid familyId, CancellationToken ct)
    {
        var users = (await c.QueryAsync<Guid>(new CommandDefinition("""
            UPDATE refresh_tokens SET revoked_at = now()
            WHERE id IN (
              SELECT id FROM refresh_tokens
              WHERE tenant_id = @tenantId AND family_id = @familyId AND revoked_at IS NULL
              ORDER BY id
              FOR UPDATE)
            RETURNING user_id
            """, new { tenantId, familyId }, tx, cancellationToken: ct))).ToList();
        return (users.Count > 0 ? users[0] : null, users.Count);
    }
}
