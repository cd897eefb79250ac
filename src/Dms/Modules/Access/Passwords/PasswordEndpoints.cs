using System.Security.Cryptography;
using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Login;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Dms.Modules.Access.Passwords;

internal sealed record ChangePasswordRequest(string CurrentPassword, string NewPassword);

internal sealed record PasswordResetResponse(Guid UserId, string Email, string TemporaryPassword, bool MustChangePassword);

/// <summary>
/// Passwords after the account exists: the owner changes theirs (<c>POST /api/v1/me/password</c>), a tenant admin
/// resets someone's to a temporary one shown once (<c>POST /api/v1/users/{id}/password-reset</c>), and an operator
/// does the same from the command line for a locked-out sole admin. A reset password must be changed at the next
/// sign-in; every change ends the user's other sessions and is audited (never with the password).
/// </summary>
internal static class PasswordEndpoints
{
    private sealed record Account(Guid Id, string Email, string PasswordHash, string Slug);

    /// <summary>The caller's new password; answers fresh tokens for this client, every other sign-in of the user is ended.</summary>
    public static async Task<IResult> Change(HttpContext http, ChangePasswordRequest body, Db db, IPasswordHasher<UserAccount> hasher,
        IssueTokens issue, AuditTrail audit, LoginThrottle throttle, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var v = new Validator().Require(!string.IsNullOrEmpty(body.CurrentPassword), "currentPassword", "currentPassword is required.");
        var account = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<Account>(new CommandDefinition("""
            SELECT u.id, u.email, u.password_hash, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id
            WHERE u.tenant_id = @tenant AND u.id = @user
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct) ?? throw ApiProblem.NotFound("user");
        AccountRules.ValidatePassword(v, body.NewPassword, account.Email, "newPassword");
        v.Require(body.NewPassword != body.CurrentPassword, "newPassword", "The new password must differ from the current one.");
        v.ThrowIfInvalid();

        // Knowing the current password is a sign-in: the same per-account lockout applies to guessing it here.
        var throttleKey = LoginThrottle.Key(account.Slug, account.Email);
        if (await throttle.LockedUntilAsync(throttleKey, ct) is { } lockedUntil)
        {
            throw new ApiProblem(StatusCodes.Status423Locked, "auth.locked", "Too many failed attempts: this account is locked for a while.", $"Try again after {lockedUntil:u}.");
        }
        var user = new UserAccount(account.Id, me.TenantId);
        var verdict = body.CurrentPassword.Length > AccountRules.MaxPasswordLength
            ? PasswordVerificationResult.Failed
            : hasher.VerifyHashedPassword(user, account.PasswordHash, body.CurrentPassword);
        if (verdict == PasswordVerificationResult.Failed)
        {
            await throttle.FailedAsync(throttleKey, ct);
            await db.InTenantAsync(me.TenantId, (c, tx) => audit.RecordAsync(c, tx, "password.change_failed", "user", account.Id, null, ct: ct), ct);
            throw new ApiProblem(StatusCodes.Status400BadRequest, "password.current_invalid", "The current password is wrong.");
        }
        await throttle.SucceededAsync(throttleKey, ct);

        var hash = hasher.HashPassword(user, body.NewPassword);
        var tokens = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await SetAsync(c, tx, me.TenantId, account.Id, hash, mustChange: false, ct);
            await audit.RecordAsync(c, tx, "password.changed", "user", account.Id, null, ct: ct);
            return await issue.InFamilyAsync(c, tx, me.TenantId, account.Id, me.Role, account.Email, Guid.CreateVersion7(), ct);
        }, ct);
        return Results.Ok(tokens);
    }

    /// <summary>An admin sets a temporary password (shown once in the answer) that must be changed at the next sign-in.</summary>
    public static async Task<IResult> Reset(HttpContext http, string id, Db db, IPasswordHasher<UserAccount> hasher, AuditTrail audit,
        LoginThrottle throttle, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var userId = RouteIds.Parse(id);
        var temporary = GenerateTemporary();
        var hash = hasher.HashPassword(new UserAccount(userId, me.TenantId), temporary);
        var (email, slug) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var target = await c.QuerySingleOrDefaultAsync<(string Email, string Slug)?>(new CommandDefinition("""
                SELECT u.email, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id
                WHERE u.tenant_id = @tenant AND u.id = @userId FOR UPDATE OF u
                """, new { tenant = me.TenantId, userId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("user");
            await SetAsync(c, tx, me.TenantId, userId, hash, mustChange: true, ct);
            await audit.RecordAsync(c, tx, "password.reset", "user", userId, new { email = target.Email }, ct: ct);
            return target;
        }, ct);
        // The account was perhaps locked by the very guesses that made the reset necessary.
        await throttle.SucceededAsync(LoginThrottle.Key(slug, email), ct);
        return Results.Ok(new PasswordResetResponse(userId, email, temporary, MustChangePassword: true));
    }

    /// <summary>The CLI's reset, as the schema owner (no signed-in admin exists to do it). Null when the tenant or user is unknown.</summary>
    public static async Task<string?> ResetFromCliAsync(NpgsqlConnection ownerConnection, IPasswordHasher<UserAccount> hasher, LoginThrottle throttle,
        string slug, string email, CancellationToken ct)
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
        await SetAsync(ownerConnection, tx, tenant, user, hasher.HashPassword(new UserAccount(user, tenant), temporary), mustChange: true, ct);
        await ownerConnection.ExecuteAsync(new CommandDefinition(
            "SELECT audit_append('system', NULL, 'command line', 'password.reset', 'user', @user, @data::jsonb, NULL, NULL, NULL)",
            new { user = user.ToString(), data = System.Text.Json.JsonSerializer.Serialize(new { email = email.Trim(), via = "cli" }) }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        await throttle.SucceededAsync(LoginThrottle.Key(slug, email), ct);
        return temporary;
    }

    private static async Task SetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, string hash, bool mustChange, CancellationToken ct)
    {
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE users SET password_hash = @hash, must_change_password = @mustChange, password_changed_at = now(), updated_at = now()
            WHERE tenant_id = @tenant AND id = @userId
            """, new { hash, mustChange, tenant, userId }, tx, cancellationToken: ct));
        // Every sign-in made with the old password ends (the caller of a change gets a new one).
        await c.ExecuteAsync(new CommandDefinition(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = @tenant AND user_id = @userId AND revoked_at IS NULL",
            new { tenant, userId }, tx, cancellationToken: ct));
    }

    private static string GenerateTemporary()
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
}
