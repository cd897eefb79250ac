using System.Security.Cryptography;
using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Login;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Dms.Modules.Access.Passwords;

/// <summary>
/// Storing a new password, shared by the owner's change, an admin's reset and the operator's reset from the command
/// line. A reset password must be changed at the next sign-in; every change ends the user's other sessions.
/// </summary>
internal static class PasswordStore
{
    public static async Task SetAsync(NpgsqlConnection c, NpgsqlTransaction tx, AccountChanges changes, Guid tenant, Guid userId, string hash, bool mustChange, CancellationToken ct)
    {
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE users SET password_hash = @hash, must_change_password = @mustChange, password_changed_at = now(), updated_at = now()
            WHERE tenant_id = @tenant AND id = @userId
            """, new { hash, mustChange, tenant, userId }, tx, cancellationToken: ct));
        // The account check must see must_change_password on the next request, on every node (its cache, ADR 0019, 0033).
        await changes.ChangedAsync(c, tx, tenant, userId, ct);
        // Every sign-in made with the old password ends (the caller of a change gets a new one).
        await c.ExecuteAsync(new CommandDefinition(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = @tenant AND user_id = @userId AND revoked_at IS NULL",
            new { tenant, userId }, tx, cancellationToken: ct));
    }

    public static string GenerateTemporary()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return string.Create(20, alphabet, (span, a) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = a[RandomNumberGenerator.GetInt32(a.Length)];
            }
        });
    }

    /// <summary>The CLI's reset, as the schema owner (no signed-in admin exists to do it). Null when the tenant or user is unknown.</summary>
    public static async Task<string?> ResetFromCliAsync(NpgsqlConnection ownerConnection, IPasswordHasher<UserAccount> hasher, LoginThrottle throttle,
        AccountChanges changes, string slug, string email, CancellationToken ct)
    {
        await using var tx = await ownerConnection.BeginTransactionAsync(ct);
        var tenantId = await ownerConnection.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT id FROM tenants WHERE slug = @slug", new { slug = slug.Trim().ToLowerInvariant() }, tx, cancellationToken: ct));
        if (tenantId is not { } tenant)
        {
            return null;
        }
        await Db.EnterTenantAsync(ownerConnection, tx, tenant, ct);
        var userId = await ownerConnection.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT id FROM users WHERE tenant_id = @tenant AND email_normalized = @email FOR UPDATE",
            new { tenant, email = AccountRules.NormalizeEmail(email) }, tx, cancellationToken: ct));
        if (userId is not { } user)
        {
            return null;
        }
        var temporary = GenerateTemporary();
        await SetAsync(ownerConnection, tx, changes, tenant, user, hasher.HashPassword(new UserAccount(user, tenant), temporary), mustChange: true, ct);
        await AuditTrail.RecordDetachedAsync(ownerConnection, tx, new AuditActor("system", null, "command line"), "password.reset", "user", user,
            new { email = email.Trim(), via = "cli" }, ct);
        await tx.CommitAsync(ct);
        await throttle.SucceededAsync(LoginThrottle.Key(slug, email), ct);
        return temporary;
    }
}
