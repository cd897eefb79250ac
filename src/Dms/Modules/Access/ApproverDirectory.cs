using Dapper;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Access;

/// <summary>
/// Access's facade for approval policies: who the people behind "admins, this workspace's managers, these users,
/// these groups" are, and whether named users and groups exist. Runs in the caller's transaction. Only enabled users
/// are anybody: a disabled approver cannot decide, so they never count towards a quorum.
/// </summary>
internal static class ApproverDirectory
{
    /// <summary>The distinct enabled users the description names, in id order.</summary>
    public static async Task<IReadOnlyList<Guid>> ResolveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, bool admins, Guid? managersOf,
        IReadOnlyList<Guid> users, IReadOnlyList<Guid> groups, CancellationToken ct) =>
        (await c.QueryAsync<Guid>(new CommandDefinition("""
            SELECT u.id FROM users u
            WHERE u.tenant_id = @tenant AND NOT u.disabled
              AND (   (@admins AND u.role = @admin)
                   OR u.id = ANY(@users)
                   OR EXISTS (SELECT 1 FROM workspace_members m
                              WHERE m.tenant_id = @tenant AND m.workspace_id = @managersOf AND m.user_id = u.id AND m.role = @manager
                                AND u.role IN (@admin, @member))
                   OR EXISTS (SELECT 1 FROM user_group_members g
                              WHERE g.tenant_id = @tenant AND g.user_id = u.id AND g.group_id = ANY(@groups)))
            ORDER BY u.id
            """,
            new
            {
                tenant,
                admins,
                admin = Roles.Admin,
                member = Roles.Member,
                manager = WorkspaceRoles.Manager,
                managersOf,
                users = users.ToArray(),
                groups = groups.ToArray(),
            }, tx, cancellationToken: ct))).ToList();

    /// <summary>The ids among <paramref name="users"/> and <paramref name="groups"/> that are no user or group of the tenant.</summary>
    public static async Task<(IReadOnlyList<Guid> Users, IReadOnlyList<Guid> Groups)> MissingAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        IReadOnlyList<Guid> users, IReadOnlyList<Guid> groups, CancellationToken ct)
    {
        var knownUsers = (await c.QueryAsync<Guid>(new CommandDefinition("SELECT id FROM users WHERE tenant_id = @tenant AND id = ANY(@ids)",
            new { tenant, ids = users.ToArray() }, tx, cancellationToken: ct))).ToHashSet();
        var knownGroups = (await c.QueryAsync<Guid>(new CommandDefinition("SELECT id FROM user_groups WHERE tenant_id = @tenant AND id = ANY(@ids)",
            new { tenant, ids = groups.ToArray() }, tx, cancellationToken: ct))).ToHashSet();
        return ([.. users.Where(u => !knownUsers.Contains(u))], [.. groups.Where(g => !knownGroups.Contains(g))]);
    }

    /// <summary>Whether <paramref name="userId"/> manages <paramref name="workspaceId"/> (a tenant Member with the Manager role there).</summary>
    public static Task<bool> ManagesAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, Guid workspaceId, CancellationToken ct) =>
        c.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM workspace_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
                           WHERE m.tenant_id = @tenant AND m.workspace_id = @workspaceId AND m.user_id = @userId AND m.role = @manager
                             AND u.role = @member AND NOT u.disabled)
            """, new { tenant, userId, workspaceId, manager = WorkspaceRoles.Manager, member = Roles.Member }, tx, cancellationToken: ct));
}
