using Dapper;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Access;

/// <summary>
/// Who is who in a tenant, for other modules (Notifications resolves an audience when it delivers; the UI names the
/// actors of audit events). Runs in the caller's transaction; disabled users are nobody to deliver to.
/// </summary>
internal static class UserDirectory
{
    /// <summary>The tenant's enabled admins, without <paramref name="except"/> (a requester is not told about their own request).</summary>
    public static async Task<IReadOnlyList<Guid>> ActiveAdminIdsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid? except, CancellationToken ct) =>
        (await c.QueryAsync<Guid>(new CommandDefinition("""
            SELECT id FROM users
            WHERE tenant_id = @tenant AND NOT disabled AND role = @admin AND id IS DISTINCT FROM @except
            ORDER BY id
            """, new { tenant, admin = Roles.Admin, except }, tx, cancellationToken: ct))).ToList();

    /// <summary>Names of users (e-mail), personal API tokens and the tenant itself among <paramref name="ids"/>; others are absent.</summary>
    public static async Task<IReadOnlyList<(Guid Id, string Name)>> NamesAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid[] ids, CancellationToken ct) =>
        (await c.QueryAsync<(Guid Id, string Name)>(new CommandDefinition("""
            SELECT id, email FROM users WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM api_tokens WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM tenants WHERE id = @tenant AND id = ANY(@ids)
            """, new { tenant, ids }, tx, cancellationToken: ct))).ToList();

    /// <summary>The enabled users of the tenant with one of <paramref name="emails"/> (compared case-insensitively), with their tenant role.</summary>
    public static async Task<IReadOnlyList<(Guid Id, string Email, string Role)>> ActiveByEmailsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        string[] emails, CancellationToken ct) =>
        (await c.QueryAsync<(Guid Id, string Email, string Role)>(new CommandDefinition("""
            SELECT id, email, role FROM users
            WHERE tenant_id = @tenant AND NOT disabled AND email_normalized = ANY(@emails)
            """, new { tenant, emails = emails.Select(Domain.AccountRules.NormalizeEmail).ToArray() }, tx, cancellationToken: ct))).ToList();

    /// <summary>The tenant's enabled users by e-mail, for choosing one (a "user" field of a document type), at most <paramref name="limit"/>.</summary>
    public static async Task<IReadOnlyList<(Guid Id, string Email)>> ActiveUsersAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, int limit,
        CancellationToken ct) =>
        (await c.QueryAsync<(Guid Id, string Email)>(new CommandDefinition("""
            SELECT id, email FROM users WHERE tenant_id = @tenant AND NOT disabled ORDER BY email_normalized LIMIT @limit
            """, new { tenant, limit }, tx, cancellationToken: ct))).ToList();

    /// <summary>Whether <paramref name="userId"/> is an enabled user of the tenant.</summary>
    public static Task<bool> IsActiveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, CancellationToken ct) =>
        c.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = @tenant AND id = @userId AND NOT disabled)",
            new { tenant, userId }, tx, cancellationToken: ct));

    /// <summary>An enabled user's e-mail address and tenant role (whom a mail goes to, and what they may read); null when disabled or unknown.</summary>
    public static Task<MailRecipient?> MailRecipientAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<MailRecipient?>(new CommandDefinition(
            "SELECT id, email, role FROM users WHERE tenant_id = @tenant AND id = @userId AND NOT disabled",
            new { tenant, userId }, tx, cancellationToken: ct));
}

internal sealed record MailRecipient(Guid Id, string Email, string Role);
