using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Dms.Modules.Access.Users;

internal sealed record CreateUserRequest(string Email, string Password, string Role, string? DisplayName);

internal sealed record UpdateUserRequest(string? Role, bool? Disabled, string? DisplayName);

internal sealed record UserResponse(Guid Id, string Email, string DisplayName, string Role, bool Disabled, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>Tenant admins manage the tenant's users: <c>/api/v1/users</c>. There is no public sign-up.</summary>
internal static class UserEndpoints
{
    private const string Columns = "id, email, display_name, role, disabled, created_at, updated_at";

    public static async Task<IResult> Create(HttpContext http, CreateUserRequest body, Db db, IPasswordHasher<UserAccount> hasher, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var v = new Validator();
        AccountRules.ValidateNewAccount(v, body.Email, body.Password);
        var role = Roles.Canonical(body.Role);
        v.Require(role is not null, "role", $"role must be one of {string.Join(", ", Roles.All)}.");
        v.Require(body.DisplayName is null || AccountRules.IsValidName(body.DisplayName, 200), "displayName", "displayName must be 1-200 characters without control characters.");
        v.ThrowIfInvalid();

        var id = Guid.CreateVersion7();
        var email = body.Email.Trim();
        var hash = hasher.HashPassword(new UserAccount(id, me.TenantId), body.Password);
        var user = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var created = await c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition($"""
            INSERT INTO users (id, tenant_id, email, email_normalized, display_name, password_hash, role)
            VALUES (@id, @tenant, @email, @normalized, @displayName, @hash, @role)
            ON CONFLICT (tenant_id, email_normalized) DO NOTHING
            RETURNING {Columns}
            """,
            new
            {
                id,
                tenant = me.TenantId,
                email,
                normalized = AccountRules.NormalizeEmail(email),
                displayName = body.DisplayName?.Trim() ?? email.Split('@')[0],
                hash,
                role,
            }, tx, cancellationToken: ct));
            if (created is not null && WorkspaceRoles.DefaultFor(created.Role) is { } workspaceRole)
            {
                await c.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role, created_by)
                    SELECT @tenant, id, @user, @workspaceRole, @by FROM workspaces WHERE tenant_id = @tenant AND is_default
                    """, new { tenant = me.TenantId, user = created.Id, workspaceRole, by = me.UserId }, tx, cancellationToken: ct));
            }
            if (created is not null)
            {
                await audit.RecordAsync(c, tx, "user.created", "user", created.Id, new { after = new { created.Email, created.Role, created.DisplayName } }, ct: ct);
            }
            return created;
        }, ct) ?? throw ApiProblem.Conflict("user.email_taken", "A user with this e-mail already exists in the tenant.");
        return Results.Created($"/api/v1/users/{user.Id}", user);
    }

    public static async Task<IResult> List(HttpContext http, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var users = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<UserResponse>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE tenant_id = @tenant ORDER BY email_normalized",
            new { tenant = me.TenantId }, tx, cancellationToken: ct)), ct);
        return Results.Ok(new { items = users });
    }

    public static async Task<IResult> Get(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var userId = RouteIds.Parse(id);
        var user = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition(
            $"SELECT {Columns} FROM users WHERE tenant_id = @tenant AND id = @userId",
            new { tenant = me.TenantId, userId }, tx, cancellationToken: ct)), ct);
        return user is null ? throw ApiProblem.NotFound("user") : Results.Ok(user);
    }

    /// <summary>
    /// Changes role, disabled flag or display name. The tenant always keeps one enabled admin: the change
    /// that would remove the last one is refused (checked under a lock on the tenant's admin rows, so two
    /// admins demoting each other at once cannot both succeed). Disabling revokes the user's refresh tokens.
    /// </summary>
    public static async Task<IResult> Update(HttpContext http, string id, UpdateUserRequest body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var userId = RouteIds.Parse(id);
        var role = body.Role is null ? null : Roles.Canonical(body.Role);
        new Validator()
            .Require(body.Role is null || role is not null, "role", $"role must be one of {string.Join(", ", Roles.All)}.")
            .Require(body.DisplayName is null || AccountRules.IsValidName(body.DisplayName, 200), "displayName", "displayName must be 1-200 characters without control characters.")
            .ThrowIfInvalid();

        var user = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var before = await c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition(
                $"SELECT {Columns} FROM users WHERE tenant_id = @tenant AND id = @userId", new { tenant = me.TenantId, userId }, tx, cancellationToken: ct));
            var admins = (await c.QueryAsync<Guid>(new CommandDefinition(
                "SELECT id FROM users WHERE tenant_id = @tenant AND role = 'Admin' AND NOT disabled ORDER BY id FOR UPDATE",
                new { tenant = me.TenantId }, tx, cancellationToken: ct))).ToList();
            var updated = await c.QuerySingleOrDefaultAsync<UserResponse>(new CommandDefinition($"""
                UPDATE users SET role = coalesce(@role, role), disabled = coalesce(@disabled, disabled),
                                 display_name = coalesce(@displayName, display_name), updated_at = now()
                WHERE tenant_id = @tenant AND id = @userId
                RETURNING {Columns}
                """, new { role, disabled = body.Disabled, displayName = body.DisplayName?.Trim(), tenant = me.TenantId, userId }, tx, cancellationToken: ct));
            if (updated is null)
            {
                return null;
            }
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
            return updated;
        }, ct);
        return user is null ? throw ApiProblem.NotFound("user") : Results.Ok(user);
    }

    private static Task<int> RevokeRefreshTokensAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE tenant_id = @tenant AND user_id = @userId AND revoked_at IS NULL",
            new { tenant, userId }, tx, cancellationToken: ct));
}
