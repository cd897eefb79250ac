using Dapper;
using Npgsql;

namespace Dms.Modules.Access;

/// <summary>A user's account as stored now, and whether the sign-in a UI session was made from is still in force.</summary>
internal sealed record StoredAccount(string Role, bool Disabled, bool SignedIn, bool MustChangePassword);

/// <summary>
/// Access's facade for the check every authenticated request makes (the bearer token's and the UI cookie's): the role
/// in force is the stored one, a disabled or deleted user is out at once, and a UI session dies with its sign-in.
/// </summary>
internal static class AccountStatus
{
    /// <summary>
    /// Null when the user does not exist. <paramref name="refreshHash"/>: the SHA-256 of the UI session's refresh token,
    /// which must be unrevoked, unused and unexpired for <see cref="StoredAccount.SignedIn"/>; null when no sign-in is to
    /// be checked (a bearer token), and then SignedIn is true. One round trip.
    /// </summary>
    public static Task<StoredAccount?> ReadAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, byte[]? refreshHash, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<StoredAccount?>(new CommandDefinition("""
            SELECT role, disabled,
                   @hash::bytea IS NULL OR EXISTS (
                     SELECT 1 FROM refresh_tokens r
                     WHERE r.tenant_id = @tenant AND r.user_id = @userId AND r.token_hash = @hash::bytea
                       AND r.revoked_at IS NULL AND r.used_at IS NULL AND r.expires_at > now()) AS signed_in,
                   must_change_password
            FROM users WHERE tenant_id = @tenant AND id = @userId
            """, new { tenant, userId, hash = refreshHash }, tx, cancellationToken: ct));
}
