using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Identity;

namespace Dms.Modules.Access.Login;

internal sealed record LoginRequest(string Tenant, string Email, string Password);

internal sealed record TokenResponse(string AccessToken, string RefreshToken, int ExpiresIn, string TokenType = "Bearer");

/// <summary><c>POST /api/v1/auth/login</c>: tenant slug, e-mail and password for an access and a refresh token.</summary>
internal static class LoginEndpoint
{
    // Verified when the tenant or user does not exist, so that a miss takes as long as a wrong password.
    private static readonly Lazy<string> DummyHash = new(() =>
        new PasswordHasher<UserAccount>().HashPassword(new UserAccount(Guid.Empty, Guid.Empty), Guid.NewGuid().ToString()));

    private static ApiProblem Locked(DateTime until) =>
        new(StatusCodes.Status423Locked, "auth.locked", "Too many failed sign-ins: this account is locked for a while.",
            $"Try again after {until:u}.")
        {
            Headers = new Dictionary<string, string>
            {
                ["Retry-After"] = Math.Max(1, (int)Math.Ceiling((until - DateTime.UtcNow).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };

    private sealed record UserRow(Guid Id, string Email, string PasswordHash, string Role, bool Disabled);

    public static async Task<IResult> Handle(LoginRequest body, Db db, IPasswordHasher<UserAccount> hasher, IssueTokens issue, AuditTrail audit,
        LoginThrottle throttle, CancellationToken ct)
    {
        new Validator()
            .Require(!string.IsNullOrWhiteSpace(body.Tenant), "tenant", "tenant is required.")
            .Require(!string.IsNullOrWhiteSpace(body.Email), "email", "email is required.")
            .Require(!string.IsNullOrEmpty(body.Password), "password", "password is required.")
            .ThrowIfInvalid();

        var throttleKey = LoginThrottle.Key(body.Tenant, body.Email);
        if (await throttle.LockedUntilAsync(throttleKey, ct) is { } lockedUntil)
        {
            throw Locked(lockedUntil);
        }

        // A slug or e-mail that cannot exist is not looked up, but still costs a hash verification below.
        var slug = body.Tenant.Trim().ToLowerInvariant();
        var tenantId = AccountRules.IsValidSlug(slug)
            ? await db.WithoutTenantAsync(c => c.QuerySingleOrDefaultAsync<Guid?>(
                new CommandDefinition("SELECT id FROM tenants WHERE slug = @slug", new { slug }, cancellationToken: ct)), ct)
            : null;
        UserRow? user = null;
        if (tenantId is { } tid && AccountRules.IsValidEmail(body.Email))
        {
            user = await db.InTenantAsync(tid, (c, tx) => c.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
                "SELECT id, email, password_hash, role, disabled FROM users WHERE tenant_id = @tid AND email_normalized = @email",
                new { tid, email = AccountRules.NormalizeEmail(body.Email) }, tx, cancellationToken: ct)), ct);
        }

        var account = new UserAccount(user?.Id ?? Guid.Empty, tenantId ?? Guid.Empty);
        var verdict = hasher.VerifyHashedPassword(account, user?.PasswordHash ?? DummyHash.Value, body.Password.Length > AccountRules.MaxPasswordLength ? "" : body.Password);
        if (user is null || verdict == PasswordVerificationResult.Failed)
        {
            var nowLocked = await throttle.FailedAsync(throttleKey, ct);
            if (tenantId is { } failedTenant)
            {
                await db.InTenantAsync(failedTenant, (c, tx) => audit.RecordAsync(c, tx, "auth.login_failed", "user", user?.Id,
                    new { email = body.Email.Trim() }, AuditActor.Anonymous(body.Email.Trim()), ct), ct);
            }
            throw nowLocked is { } until
                ? Locked(until)
                : new ApiProblem(StatusCodes.Status401Unauthorized, "auth.invalid_credentials", "The tenant, e-mail or password is wrong.");
        }
        await throttle.SucceededAsync(throttleKey, ct);
        if (user.Disabled)
        {
            throw new ApiProblem(StatusCodes.Status403Forbidden, "auth.user_disabled", "This account is disabled; ask a tenant admin.");
        }
        if (verdict == PasswordVerificationResult.SuccessRehashNeeded)
        {
            var rehash = hasher.HashPassword(account, body.Password);
            await db.InTenantAsync(tenantId!.Value, (c, tx) => c.ExecuteAsync(new CommandDefinition(
                "UPDATE users SET password_hash = @rehash WHERE tenant_id = @tid AND id = @id",
                new { rehash, tid = tenantId, id = user.Id }, tx, cancellationToken: ct)), ct);
        }

        var tokens = await db.InTenantAsync(tenantId!.Value, async (c, tx) =>
        {
            await audit.RecordAsync(c, tx, "auth.login", "user", user.Id, null, new AuditActor("user", user.Id, user.Email), ct);
            return await issue.InFamilyAsync(c, tx, tenantId.Value, user.Id, user.Role, user.Email, Guid.CreateVersion7(), ct);
        }, ct);
        return Results.Ok(tokens);
    }
}
