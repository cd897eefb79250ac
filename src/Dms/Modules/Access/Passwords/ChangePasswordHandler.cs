using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Login;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Identity;

namespace Dms.Modules.Access.Passwords;

/// <summary>The caller's new password, proven by the current one.</summary>
internal sealed record ChangePassword(string CurrentPassword, string NewPassword);

/// <summary>Answers fresh tokens for this client; every other sign-in of the user is ended.</summary>
internal sealed class ChangePasswordHandler(Db db, IPasswordHasher<UserAccount> hasher, IssueTokens issue, AuditTrail audit, LoginThrottle throttle, AccountChanges accountChanges)
    : IHandler<ChangePassword, TokenResponse>
{
    private sealed record Account(Guid Id, string Email, string PasswordHash, string Slug);

    public async Task<TokenResponse> HandleAsync(ChangePassword command, CurrentUser me, CancellationToken ct)
    {
        var v = new Validator().Require(!string.IsNullOrEmpty(command.CurrentPassword), "currentPassword", "currentPassword is required.");
        var account = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<Account>(new CommandDefinition("""
            SELECT u.id, u.email, u.password_hash, t.slug FROM users u JOIN tenants t ON t.id = u.tenant_id
            WHERE u.tenant_id = @tenant AND u.id = @user
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct) ?? throw ApiProblem.NotFound("user");
        AccountRules.ValidatePassword(v, command.NewPassword, account.Email, "newPassword");
        v.Require(command.NewPassword != command.CurrentPassword, "newPassword", "The new password must differ from the current one.");
        v.ThrowIfInvalid();

        // Knowing the current password is a sign-in: the same per-account lockout applies to guessing it here.
        var throttleKey = LoginThrottle.Key(account.Slug, account.Email);
        if (await throttle.LockedUntilAsync(throttleKey, ct) is { } lockedUntil)
        {
            throw new ApiProblem(StatusCodes.Status423Locked, "auth.locked", "Too many failed attempts: this account is locked for a while.", $"Try again after {lockedUntil:u}.");
        }
        var user = new UserAccount(account.Id, me.TenantId);
        var verdict = command.CurrentPassword.Length > AccountRules.MaxPasswordLength
            ? PasswordVerificationResult.Failed
            : hasher.VerifyHashedPassword(user, account.PasswordHash, command.CurrentPassword);
        if (verdict == PasswordVerificationResult.Failed)
        {
            await throttle.FailedAsync(throttleKey, ct);
            await db.InTenantAsync(me.TenantId, (c, tx) => audit.RecordAsync(c, tx, "password.change_failed", "user", account.Id, null, ct: ct), ct);
            throw new ApiProblem(StatusCodes.Status400BadRequest, "password.current_invalid", "The current password is wrong.");
        }
        await throttle.SucceededAsync(throttleKey, ct);

        var hash = hasher.HashPassword(user, command.NewPassword);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await PasswordStore.SetAsync(c, tx, accountChanges, me.TenantId, account.Id, hash, mustChange: false, ct);
            await audit.RecordAsync(c, tx, "password.changed", "user", account.Id, null, ct: ct);
            return await issue.InFamilyAsync(c, tx, me.TenantId, account.Id, me.Role, account.Email, Guid.CreateVersion7(), ct);
        }, ct);
    }
}
