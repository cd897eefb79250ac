using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Modules.Webhooks;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Dms.Modules.Access.Users;

internal sealed record UserResponse(Guid Id, string Email, string DisplayName, string Role, bool Disabled, DateTime CreatedAt, DateTime UpdatedAt);

internal sealed record CreateUser(string Email, string Password, string Role, string? DisplayName);

internal sealed record ListUsers;

internal sealed record GetUser(Guid UserId);

/// <summary>Null fields stay as they are.</summary>
internal sealed record UpdateUser(Guid UserId, string? Role, bool? Disabled, string? DisplayName);

internal static class UserColumns
{
    public const string List = "id, email, display_name, role, disabled, created_at, updated_at";
}

/// <summary>
/// A new user of the caller's tenant; members and viewers also join the default workspace. There is no public sign-up.
/// A new user takes a seat of the plan (ADR 0031): with a seat limit, the seat is checked under the tenant's seat lock
/// before the password is hashed, so the requests that lose the race for the last seat are refused without hashing.
/// </summary>
internal sealed class CreateUserHandler(Db db, IPasswordHasher<UserAccount> hasher, AuditTrail audit, SeatGate seatGate) : IHandler<CreateUser, UserResponse>
{
    public async Task<UserResponse> HandleAsync(CreateUser command, CurrentUser me, CancellationToken ct)
    {
        var v = new Validator();
        AccountRules.ValidateNewAccount(v, command.Email, command.Password);
        var role = Roles.Canonical(command.Role);
        v.Require(role is not null, "role", $"role must be one of {string.Join(", ", Roles.All)}.");
        v.Require(command.DisplayName is null || AccountRules.IsValidName(command.DisplayName, 200), "displayName", "displayName must be 1-200 characters without control characters.");
        v.ThrowIfInvalid();

        var id = Guid.CreateVersion7();
        var email = command.Email.Trim();
        // Without the lock: a tenant already full is refused at once, in parallel, without queuing for the lock.
        var seen = await db.InTenantAsync(me.TenantId, (c, tx) => Seats.UseAsync(c, tx, me.TenantId, ct), ct);
        Seats.EnsureFree(seen);
        // Without a seat limit nothing is serialised: hash first, outside any transaction, as before plans existed.
        var hash = seen.Limit is null ? hasher.HashPassword(new UserAccount(id, me.TenantId), command.Password) : null;
        using var turn = seen.Limit is null ? null : await seatGate.EnterAsync(me.TenantId, ct);
        // A turn before this one found every seat taken while this request waited: refused without the database.
        Seats.EnsureFree(turn?.KnownFull);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var arrived = turn?.ArrivedBeforeCount() ?? 0;
            var seats = await Seats.LockAsync(c, tx, me.TenantId, ct);
            turn?.Counted(seats, arrived);
            Seats.EnsureFree(seats);
            // Under the seat lock: creation is serialised per tenant at about one hash time each, which an admin API
            // affords; hashing before the lock would make every loser of a race for the last seat hash for nothing.
            hash ??= hasher.HashPassword(new UserAccount(id, me.TenantId), command.Password);
            var created = await c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition($"""
            INSERT INTO users (id, tenant_id, email, email_normalized, display_name, password_hash, role)
            VALUES (@id, @tenant, @email, @normalized, @displayName, @hash, @role)
            ON CONFLICT (tenant_id, email_normalized) DO NOTHING
            RETURNING {UserColumns.List}
            """,
            new
            {
                id,
                tenant = me.TenantId,
                email,
                normalized = AccountRules.NormalizeEmail(email),
                displayName = command.DisplayName?.Trim() ?? email.Split('@')[0],
                hash,
                role,
            }, tx, cancellationToken: ct));
            if (created is not null && WorkspaceRoles.DefaultFor(created.Role) is { } workspaceRole
                && await WorkspaceDirectory.DefaultIdAsync(c, tx, me.TenantId, ct) is { } workspaceId)
            {
                await c.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role, created_by)
                    VALUES (@tenant, @workspaceId, @user, @workspaceRole, @by)
                    """, new { tenant = me.TenantId, workspaceId, user = created.Id, workspaceRole, by = me.UserId }, tx, cancellationToken: ct));
            }
            if (created is not null)
            {
                await audit.RecordAsync(c, tx, "user.created", "user", created.Id, new { after = new { created.Email, created.Role, created.DisplayName } }, ct: ct);
                await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.UserCreated, created.Id, new { created.Email, created.Role, created.DisplayName }, ct);
            }
            return created;
        }, ct) ?? throw ApiProblem.Conflict("user.email_taken", "A user with this e-mail already exists in the tenant.");
    }
}

/// <summary>The tenant's users by e-mail.</summary>
internal sealed class ListUsersHandler(Db db) : IHandler<ListUsers, IReadOnlyList<UserResponse>>
{
    public async Task<IReadOnlyList<UserResponse>> HandleAsync(ListUsers query, CurrentUser me, CancellationToken ct) =>
        (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<UserResponse>(new CommandDefinition(
            $"SELECT {UserColumns.List} FROM users WHERE tenant_id = @tenant ORDER BY email_normalized",
            new { tenant = me.TenantId }, tx, cancellationToken: ct)), ct)).ToList();
}

/// <summary>
/// The tenant's enabled users as anyone of the tenant may see them (id, e-mail, name): whom to name as an approver or a
/// delegate. Roles, state and dates stay with the admins' list.
/// </summary>
internal sealed record ListColleagues;

internal sealed record Colleague(Guid Id, string Email, string? DisplayName);

internal sealed class ListColleaguesHandler(Db db) : IHandler<ListColleagues, IReadOnlyList<Colleague>>
{
    public async Task<IReadOnlyList<Colleague>> HandleAsync(ListColleagues query, CurrentUser me, CancellationToken ct) =>
        (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<Colleague>(new CommandDefinition(
            "SELECT id, email, display_name FROM users WHERE tenant_id = @tenant AND NOT disabled ORDER BY email_normalized",
            new { tenant = me.TenantId }, tx, cancellationToken: ct)), ct)).ToList();
}

internal sealed record GetSeatUse;

/// <summary>The tenant's seats used and the plan's limit (null: no limit), for the users page.</summary>
internal sealed class GetSeatUseHandler(Db db) : IHandler<GetSeatUse, SeatUse>
{
    public Task<SeatUse> HandleAsync(GetSeatUse query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => Seats.UseAsync(c, tx, me.TenantId, ct), ct);
}

internal sealed class GetUserHandler(Db db) : IHandler<GetUser, UserResponse>
{
    public async Task<UserResponse> HandleAsync(GetUser query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition(
            $"SELECT {UserColumns.List} FROM users WHERE tenant_id = @tenant AND id = @userId",
            new { tenant = me.TenantId, userId = query.UserId }, tx, cancellationToken: ct)), ct)
        ?? throw ApiProblem.NotFound("user");
}

/// <summary>
/// Changes role, disabled flag or display name. The tenant always keeps one enabled admin: the change
/// that would remove the last one is refused (checked under a lock on the tenant's admin rows, so two
/// admins demoting each other at once cannot both succeed). Disabling revokes the user's refresh tokens.
/// </summary>
/// <remarks>
/// Enabling a disabled user takes a seat (ADR 0031): a request that may enable (<c>disabled: false</c>) takes the
/// tenant's seat lock before it reads the user, so two re-enables of one user cannot both count it as free, and a
/// re-enable of a user already enabled takes nothing. Role and name changes and disabling never touch seats.
/// </remarks>
internal sealed class UpdateUserHandler(Db db, AuditTrail audit, SeatGate seatGate, AccountChanges accountChanges) : IHandler<UpdateUser, UserResponse>
{
    public async Task<UserResponse> HandleAsync(UpdateUser command, CurrentUser me, CancellationToken ct)
    {
        var userId = command.UserId;
        var role = command.Role is null ? null : Roles.Canonical(command.Role);
        new Validator()
            .Require(command.Role is null || role is not null, "role", $"role must be one of {string.Join(", ", Roles.All)}.")
            .Require(command.DisplayName is null || AccountRules.IsValidName(command.DisplayName, 200), "displayName", "displayName must be 1-200 characters without control characters.")
            .ThrowIfInvalid();

        var enabling = command.Disabled == false;
        using var turn = enabling ? await seatGate.EnterAsync(me.TenantId, ct) : null;
        var user = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var arrived = turn?.ArrivedBeforeCount() ?? 0;
            var seats = enabling ? await Seats.LockAsync(c, tx, me.TenantId, ct) : null;
            turn?.Counted(seats, arrived);
            var before = await c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition(
                $"SELECT {UserColumns.List} FROM users WHERE tenant_id = @tenant AND id = @userId", new { tenant = me.TenantId, userId }, tx, cancellationToken: ct));
            if (before is { Disabled: true } && enabling)
            {
                // The count under the lock leaves this user out (disabled): enabling them needs one seat free.
                Seats.EnsureFree(seats);
            }
            var admins = (await c.QueryAsync<Guid>(new CommandDefinition(
                "SELECT id FROM users WHERE tenant_id = @tenant AND role = @admin AND NOT disabled ORDER BY id FOR UPDATE",
                new { tenant = me.TenantId, admin = Roles.Admin }, tx, cancellationToken: ct))).ToList();
            var updated = await c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition($"""
                UPDATE users SET role = coalesce(@role, role), disabled = coalesce(@disabled, disabled),
                                 display_name = coalesce(@displayName, display_name), updated_at = now()
                WHERE tenant_id = @tenant AND id = @userId
                RETURNING {UserColumns.List}
                """, new { role, disabled = command.Disabled, displayName = command.DisplayName?.Trim(), tenant = me.TenantId, userId }, tx, cancellationToken: ct));
            if (updated is null)
            {
                return null;
            }
            // A role or disabled change applies on the next request, whatever the account check has cached on any node (ADR 0019, 0033).
            await accountChanges.ChangedAsync(c, tx, me.TenantId, userId, ct);
            var stillAdmin = updated.Role == Roles.Admin && !updated.Disabled;
            if (admins.Contains(userId) && !stillAdmin && admins.Count == 1)
            {
                throw ApiProblem.Conflict("user.last_admin", "This is the tenant's last enabled admin; make another user admin first.");
            }
            if (updated.Disabled)
            {
                await RevokeRefreshTokensAsync(c, tx, me.TenantId, userId, ct);
            }
            await audit.RecordAsync(c, tx, "user.updated", "user", userId, new
            {
                before = new { before!.Role, before.Disabled, before.DisplayName },
                after = new { updated.Role, updated.Disabled, updated.DisplayName },
            }, ct: ct);
            if (updated.Disabled && !before.Disabled)
            {
                await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.UserDisabled, userId, new { updated.Email, disabledBy = me.UserId }, ct);
            }
            return updated;
        }, ct);
        return user ?? throw ApiProblem.NotFound("user");
    }

    private static Task<int> RevokeRefreshTokensAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = @tenant AND user_id = @userId AND revoked_at IS NULL",
            new { tenant, userId }, tx, cancellationToken: ct));
}
