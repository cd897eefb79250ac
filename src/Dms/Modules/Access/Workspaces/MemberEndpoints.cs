using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Access.Workspaces;

internal sealed record AddMemberRequest(string? UserId, string? Role);

internal sealed record MemberResponse(Guid UserId, string Email, string DisplayName, string TenantRole, string Role, DateTime CreatedAt);

/// <summary>
/// <c>GET/POST /api/v1/workspaces/{id}/members</c>, <c>DELETE /api/v1/workspaces/{id}/members/{userId}</c>: who may
/// read (<c>Viewer</c>), contribute (<c>Contributor</c>) and manage members (<c>Manager</c>) in a workspace.
/// Readers of the workspace see its members; its managers and tenant admins change them.
/// </summary>
internal static class MemberEndpoints
{
    public static async Task<IResult> List(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var items = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, workspaceId, WorkspaceAction.Read, "workspace", ct);
            return await c.QueryAsync<MemberResponse>(new CommandDefinition("""
                SELECT u.id AS user_id, u.email, u.display_name, u.role AS tenant_role, m.role, m.created_at
                FROM workspace_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
                WHERE m.tenant_id = @tenant AND m.workspace_id = @workspaceId ORDER BY u.email_normalized
                """, new { tenant = me.TenantId, workspaceId }, tx, cancellationToken: ct));
        }, ct);
        return Results.Ok(new { items });
    }

    /// <summary>Adds a member or changes their role (idempotent for the same role).</summary>
    public static async Task<IResult> Add(HttpContext http, string id, AddMemberRequest body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var role = WorkspaceRoles.Canonical(body.Role);
        new Validator()
            .Require(body.UserId is not null, "userId", "userId is required.")
            .Require(role is not null, "role", $"role is one of {string.Join(", ", WorkspaceRoles.All)}.")
            .ThrowIfInvalid();
        var userId = RouteIds.Parse(body.UserId!, "userId");
        var member = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, workspaceId, WorkspaceAction.ManageMembers, "workspace", ct);
            var tenantRole = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT role FROM users WHERE tenant_id = @tenant AND id = @userId", new { tenant = me.TenantId, userId }, tx, cancellationToken: ct))
                ?? throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "user.not_found", "The user does not exist.");
            if (tenantRole == Roles.Auditor)
            {
                throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "workspace.member_not_allowed", "Auditors read the audit trail only; they cannot join workspaces.");
            }
            var previous = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT role FROM workspace_members WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND user_id = @userId",
                new { tenant = me.TenantId, workspaceId, userId }, tx, cancellationToken: ct));
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role, created_by) VALUES (@tenant, @workspaceId, @userId, @role, @by)
                ON CONFLICT (tenant_id, workspace_id, user_id) DO UPDATE SET role = excluded.role
                """, new { tenant = me.TenantId, workspaceId, userId, role, by = me.UserId }, tx, cancellationToken: ct));
            if (previous != role)
            {
                await audit.RecordAsync(c, tx, previous is null ? "workspace.member_added" : "workspace.member_changed", "workspace", workspaceId,
                    new { userId, before = previous, after = role }, ct: ct);
            }
            return await c.QuerySingleAsync<MemberResponse>(new CommandDefinition("""
                SELECT u.id AS user_id, u.email, u.display_name, u.role AS tenant_role, m.role, m.created_at
                FROM workspace_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
                WHERE m.tenant_id = @tenant AND m.workspace_id = @workspaceId AND m.user_id = @userId
                """, new { tenant = me.TenantId, workspaceId, userId }, tx, cancellationToken: ct));
        }, ct);
        return Results.Ok(member);
    }

    public static async Task<IResult> Remove(HttpContext http, string id, string userId, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var memberId = RouteIds.Parse(userId, "userId");
        var removed = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, workspaceId, WorkspaceAction.ManageMembers, "workspace", ct);
            var role = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "DELETE FROM workspace_members WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND user_id = @memberId RETURNING role",
                new { tenant = me.TenantId, workspaceId, memberId }, tx, cancellationToken: ct));
            if (role is not null)
            {
                await audit.RecordAsync(c, tx, "workspace.member_removed", "workspace", workspaceId, new { userId = memberId, before = role }, ct: ct);
            }
            return role is not null;
        }, ct);
        return removed ? Results.NoContent() : throw ApiProblem.NotFound("member");
    }
}
