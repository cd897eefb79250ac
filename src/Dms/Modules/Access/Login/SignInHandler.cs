using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Microsoft.AspNetCore.Identity;

namespace Dms.Modules.Access.Login;

/// <summary>Tenant slug, e-mail and password for an access and a refresh token. Nobody is signed in yet.</summary>
internal sealed record SignIn(string Tenant, string Email, string Password);

/// <summary>
/// Sign-in with lockout and audit. Not an <see cref="Platform.UseCases.IHandler{TCommand, TResult}"/>: there is no
/// current user to act as; the API's login and the UI's sign-in page both call it.
/// </summary>
internal sealed class SignInHandler(Db db, IPasswordHasher<UserAccount> hasher, IssueTokens issue, AuditTrail audit,
    LoginThrottle throttle, TimeProvider clock)
{
    // Verified when the tenant or user does not exist, so that a miss takes as long as a wrong password.
    private static readonly Lazy<string> DummyHash = new(() =>
        new PasswordHasher<UserAccount>().HashPassword(new UserAccount(Guid.Empty, Guid.Empty), Guid.NewGuid().ToString()));

    private sealed record UserRow(Guid Id, string Email, string PasswordHash, string Role, bool Disabled);

    public async Task<TokenResponse> HandleAsync(SignIn command, CancellationToken ct)
    {
        new Validator()
            .Require(!string.IsNullOrWhiteSpace(command.Tenant), "tenant", "tenant is required.")
            .Require(!string.IsNullOrWhiteSpace(command.Email), "email", "email is required.")
            .Require(!string.IsNullOrEmpty(command.Password), "password", "password is required.")
            .ThrowIfInvalid();

        var throttleKey = LoginThrottle.Key(command.Tenant, command.Email);
        if (await throttle.LockedUntilAsync(throttleKey, ct) is { } lockedUntil)
        {
            DmsTelemetry.SignInFailures.Add(1, new KeyValuePair<string, object?>("reason", "locked"));
            throw Locked(lockedUntil);
        }

        // A slug or e-mail that cannot exist is not looked up, but still costs a hash verification below.
        var slug = command.Tenant.Trim().ToLowerInvariant();
        var tenantId = AccountRules.IsValidSlug(slug)
            ? await db.WithoutTenantAsync(c => c.QuerySingleOrDefaultAsync<Guid?>(
                new CommandDefinition("SELECT id FROM tenants WHERE slug = @slug", new { slug }, cancellationToken: ct)), ct)
            : null;
        UserRow? user = null;
        if (tenantId is { } tid && AccountRules.IsValidEmail(command.Email))
        {
            user = await db.InTenantAsync(tid, (c, tx) => c.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
                "SELECT id, email, password_hash, role, disabled FROM users WHERE tenant_id = @tid AND email_normalized = @email",
                new { tid, email = AccountRules.NormalizeEmail(command.Email) }, tx, cancellationToken: ct)), ct);
        }

        var account = new UserAccount(user?.Id ?? Guid.Empty, tenantId ?? Guid.Empty);
        var verdict = hasher.VerifyHashedPassword(account, user?.PasswordHash ?? DummyHash.Value, command.Password.Length > AccountRules.MaxPasswordLength ? "" : command.Password);
        if (user is null || verdict == PasswordVerificationResult.Failed)
        {
            var nowLocked = await throttle.FailedAsync(throttleKey, ct);
            DmsTelemetry.SignInFailures.Add(1, new KeyValuePair<string, object?>("reason", "bad_credentials"));
            if (nowLocked is not null)
            {
                DmsTelemetry.Lockouts.Add(1);
            }
            if (tenantId is { } failedTenant)
            {
                await db.InTenantAsync(failedTenant, (c, tx) => audit.RecordAsync(c, tx, "auth.login_failed", "user", user?.Id,
                    new { email = command.Email.Trim() }, AuditActor.Anonymous(command.Email.Trim()), ct), ct);
            }
            throw nowLocked is { } until
                ? Locked(until)
                : new ApiProblem(StatusCodes.Status401Unauthorized, "auth.invalid_credentials", "The tenant, e-mail or password is wrong.");
        }
        await throttle.SucceededAsync(throttleKey, ct);
        if (user.Disabled)
        {
            DmsTelemetry.SignInFailures.Add(1, new KeyValuePair<string, object?>("reason", "disabled"));
            throw new ApiProblem(StatusCodes.Status403Forbidden, "auth.user_disabled", "This account is disabled; ask a tenant admin.");
        }
        if (verdict == PasswordVerificationResult.SuccessRehashNeeded)
        {
            var rehash = hasher.HashPassword(account, command.Password);
            await db.InTenantAsync(tenantId!.Value, (c, tx) => c.ExecuteAsync(new CommandDefinition(
                "UPDATE users SET password_hash = @rehash WHERE tenant_id = @tid AND id = @id",
                new { rehash, tid = tenantId, id = user.Id }, tx, cancellationToken: ct)), ct);
        }

        return await db.InTenantAsync(tenantId!.Value, async (c, tx) =>
        {
            await audit.RecordAsync(c, tx, "auth.login", "user", user.Id, null, new AuditActor("user", user.Id, user.Email), ct);
            return await issue.InFamilyAsync(c, tx, tenantId.Value, user.Id, user.Role, user.Email, Guid.CreateVersion7(), ct);
        }, ct);
    }

    // The lock's end says when to come back: Retry-After rides on the problem to the API's answer.
    private ApiProblem Locked(DateTime until) =>
        new(StatusCodes.Status423Locked, "auth.locked", "Too many failed sign-ins: this account is locked for a while.",
            $"Try again after {until:u}.")
        {
            Headers = new Dictionary<string, string>
            {
                ["Retry-After"] = Math.Max(1, (int)Math.Ceiling((until - clock.GetUtcNow().UtcDateTime).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };
}
