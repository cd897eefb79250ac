using Dapper;
using Dms.Modules.Access.Login;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Identity;

namespace Dms.Modules.Access.Passwords;

/// <summary>An admin resets a user's password to a temporary one.</summary>
internal sealed record ResetPassword(Guid UserId);

internal sealed record PasswordResetResponse(Guid UserId, string Email, string TemporaryPassword, bool MustChangePassword);

/// <summary>Sets a temporary password (shown once in the answer) that must be changed at the next sign-in.</summary>
internal sealed class ResetPasswordHandler(Db db, IPasswordHasher<UserAccount> hasher, AuditTrail audit, LoginThrottle throttle, AccountChanges accountChanges)
    : IHandler<ResetPassword, PasswordResetResponse>
{
    public async Task<PasswordResetResponse> HandleAsync(ResetPassword command, CurrentUser me, CancellationToken ct)
    {
        var userId = command.UserId;
        var temporary = PasswordStore.GenerateTemporary();
        var hash = hasher.HashPassword(new UserAccount(userId, me.TenantId), temporary);
        var (email, slug) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var target = await c.QuerySingleOrDefaultAsync<(string Email, string Slug)?>(new CommandDefinition("""
                SELECT u.email, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id
                WHERE u.tenant_id = @tenant AND u.id = @userId FOR UPDATE OF u
                """, new { tenant = me.TenantId, userId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("user");
            await PasswordStore.SetAsync(c, tx, accountChanges, me.TenantId, userId, hash, mustChange: true, ct);
            await audit.RecordAsync(c, tx, "password.reset", "user", userId, new { email = target.Email }, ct: ct);
            return target;
        }, ct);
        // The account was perhaps locked by the very guesses that made the reset necessary.
        await throttle.SucceededAsync(LoginThrottle.Key(slug, email), ct);
        return new PasswordResetResponse(userId, email, temporary, MustChangePassword: true);
    }
}
