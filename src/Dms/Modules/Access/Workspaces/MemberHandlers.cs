using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Access.Workspaces;

internal sealed record MemberResponse(Guid UserId, string Email, string DisplayName, string TenantRole, string Role, DateTime CreatedAt);

internal sealed record ListMembers(Guid WorkspaceId);

/// <summary>Adds a member or changes their role (idempotent for the same role). The fields are as the client sent them.</summary>
internal sealed record AddMember(Guid WorkspaceId, string? UserId, string? Role);

internal sealed record RemoveMember(Guid WorkspaceId, Guid UserId);

internal static class MemberQuery
{
    public const string Select = """
        SELECT u.id AS user_id, u.email, u.display_name, u.role AS tenant_role, m.role, m.created_at
        FROM workspace_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
        """;
}

/// <summary>Readers of the workspace see its members.</summary>
internal sealed class ListMembersHandler(Db db) : IHandler<ListMembers, IReadOnlyList<MemberResponse>>
{
    public async Task<IReadOnlyList<MemberResponse>> HandleAsync(ListMembers query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, query.WorkspaceId, WorkspaceAction.Read, "workspace", ct);
            return (await c.QueryAsync<MemberResponse>(new CommandDefinition($"""
                {MemberQuery.Select}
                WHERE m.tenant_id = @tenant AND m.workspace_id = @workspaceId ORDER BY u.email_normalized
                """, new { tenant = me.TenantId, workspaceId = query.WorkspaceId }, tx, cancellationToken: ct))).ToList();
        }, ct);
}

/// <summary>The workspace's managers and tenant admins add members or change their role; auditors cannot join.</summary>
internal sealed class AddMemberHandler(Db db, AuditTrail audit) : IHandler<AddMember, MemberResponse>
{
    public async Task<MemberResponse> HandleAsync(AddMember command, CurrentUser me, CancellationToken ct)
    {
        var workspaceId = command.WorkspaceId;
        var role = WorkspaceRoles.Canonical(command.Role);
        new Validator()
            .Require(command.UserId is not null, "userId", "userId is required.")
            .Require(role is not null, "role", $"role is one of {string.Join(", ", WorkspaceRoles.All)}.")
            .ThrowIfInvalid();
        var userId = RouteIds.Parse(command.UserId!, "userId");
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
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
            return await c.QuerySingleAsync<MemberResponse>(new CommandDefinition($"""
                {MemberQuery.Select}
                WHERE m.tenant_id = @tenant AND m.workspace_id = @workspaceId AND m.user_id = @userId
                """, new { tenant = me.TenantId, workspaceId, userId }, tx, cancellationToken: ct));
        }, ct);
    }
}

/// <summary>Removes a member and answers true; 404 when they were not a member.</summary>
internal sealed class RemoveMemberHandler(Db db, AuditTrail audit) : IHandler<RemoveMember, bool>
{
    public async Task<bool> HandleAsync(RemoveMember command, CurrentUser me, CancellationToken ct)
    {
        var (workspaceId, memberId) = (command.WorkspaceId, command.UserId);
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
        if (!removed)
        {
            throw ApiProblem.NotFound("member");
        }
        return true;
    }
}
