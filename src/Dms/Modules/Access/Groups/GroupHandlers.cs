using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Access.Groups;

internal sealed record GroupResponse(Guid Id, string Name, int MemberCount, DateTime CreatedAt);

internal sealed record GroupMemberResponse(Guid UserId, string Email, DateTime AddedAt);

internal sealed record GroupDetailResponse(Guid Id, string Name, int MemberCount, DateTime CreatedAt, IReadOnlyList<GroupMemberResponse> Members);

internal sealed record CreateGroup(string? Name);

internal sealed record ListGroups;

internal sealed record GetGroup(Guid GroupId);

internal sealed record RenameGroup(Guid GroupId, string? Name);

internal sealed record DeleteGroup(Guid GroupId);

/// <summary>Adds a user to a group; adding a member again changes nothing. The user id is as the client sent it.</summary>
internal sealed record AddGroupMember(Guid GroupId, string? UserId);

internal sealed record RemoveGroupMember(Guid GroupId, Guid UserId);

/// <summary>The SQL and rules every group handler shares.</summary>
internal static class GroupRows
{
    public const int MaxName = 100;

    public const string Select = """
        SELECT g.id, g.name,
               (SELECT count(*) FROM user_group_members m WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id)::int AS member_count,
               g.created_at
        FROM user_groups g
        """;

    public static string ValidName(string? name)
    {
        new Validator()
            .Require(AccountRules.IsValidName(name, MaxName), "name", $"name is required (1-{MaxName} characters, no control characters).")
            .ThrowIfInvalid();
        return name!.Trim();
    }

    /// <summary>
    /// The group, locked as <paramref name="lockRows"/> says (<c>FOR UPDATE</c> before renaming or deleting it, <c>FOR SHARE</c>
    /// before adding to it, so a concurrent delete waits); 404 <c>group.not_found</c> when the tenant has no such group.
    /// </summary>
    public static async Task<GroupResponse> RequireAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid groupId, string lockRows,
        CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<GroupResponse>(new CommandDefinition(
            $"{Select} WHERE g.tenant_id = @tenant AND g.id = @groupId {lockRows}", new { tenant, groupId }, tx, cancellationToken: ct))
        ?? throw ApiProblem.NotFound("group");

    /// <summary>The group with its members by e-mail; 404 <c>group.not_found</c> when the tenant has no such group.</summary>
    public static async Task<GroupDetailResponse> DetailAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid groupId, CancellationToken ct)
    {
        var group = await RequireAsync(c, tx, tenant, groupId, "", ct);
        var members = (await c.QueryAsync<GroupMemberResponse>(new CommandDefinition("""
            SELECT u.id AS user_id, u.email, m.added_at
            FROM user_group_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
            WHERE m.tenant_id = @tenant AND m.group_id = @groupId
            ORDER BY u.email_normalized
            """, new { tenant, groupId }, tx, cancellationToken: ct))).ToList();
        return new GroupDetailResponse(group.Id, group.Name, group.MemberCount, group.CreatedAt, members);
    }

    /// <summary>Runs <paramref name="work"/> in the tenant; a second group of the same name (any case) is 409 <c>group.name_taken</c>.</summary>
    public static async Task<T> NamedAsync<T>(Db db, Guid tenant, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        try
        {
            return await db.InTenantAsync(tenant, work, ct);
        }
        catch (PostgresException ex) when (ex is { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "user_groups_name" })
        {
            throw ApiProblem.Conflict("group.name_taken", "A group with this name already exists.");
        }
    }
}

/// <summary>A new, empty group of the caller's tenant (admins).</summary>
internal sealed class CreateGroupHandler(Db db, AuditTrail audit) : IHandler<CreateGroup, GroupResponse>
{
    public async Task<GroupResponse> HandleAsync(CreateGroup command, CurrentUser me, CancellationToken ct)
    {
        var name = GroupRows.ValidName(command.Name);
        return await GroupRows.NamedAsync(db, me.TenantId, async (c, tx) =>
        {
            var created = await c.QuerySingleAsync<GroupResponse>(new CommandDefinition("""
                INSERT INTO user_groups (tenant_id, id, name, created_by) VALUES (@tenant, @id, @name, @by)
                RETURNING id, name, 0 AS member_count, created_at
                """, new { tenant = me.TenantId, id = Guid.CreateVersion7(), name, by = me.UserId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "group.created", "group", created.Id, new { after = new { created.Name } }, ct: ct);
            return created;
        }, ct);
    }
}

/// <summary>The tenant's groups by name, for anyone signed in to the tenant (policy editors pick approver groups from it).</summary>
internal sealed class ListGroupsHandler(Db db) : IHandler<ListGroups, IReadOnlyList<GroupResponse>>
{
    public async Task<IReadOnlyList<GroupResponse>> HandleAsync(ListGroups query, CurrentUser me, CancellationToken ct) =>
        (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<GroupResponse>(new CommandDefinition(
            $"{GroupRows.Select} WHERE g.tenant_id = @tenant ORDER BY lower(g.name), g.id",
            new { tenant = me.TenantId }, tx, cancellationToken: ct)), ct)).ToList();
}

/// <summary>A group with its members (admins: the members' e-mails are the user directory's).</summary>
internal sealed class GetGroupHandler(Db db) : IHandler<GetGroup, GroupDetailResponse>
{
    public Task<GroupDetailResponse> HandleAsync(GetGroup query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => GroupRows.DetailAsync(c, tx, me.TenantId, query.GroupId, ct), ct);
}

/// <summary>Renames a group (admins); the same name again changes and records nothing.</summary>
internal sealed class RenameGroupHandler(Db db, AuditTrail audit) : IHandler<RenameGroup, GroupResponse>
{
    public async Task<GroupResponse> HandleAsync(RenameGroup command, CurrentUser me, CancellationToken ct)
    {
        var name = GroupRows.ValidName(command.Name);
        return await GroupRows.NamedAsync(db, me.TenantId, async (c, tx) =>
        {
            var group = await GroupRows.RequireAsync(c, tx, me.TenantId, command.GroupId, "FOR UPDATE OF g", ct);
            if (group.Name == name)
            {
                return group;
            }
            await c.ExecuteAsync(new CommandDefinition(
                "UPDATE user_groups SET name = @name WHERE tenant_id = @tenant AND id = @groupId",
                new { name, tenant = me.TenantId, groupId = command.GroupId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "group.renamed", "group", command.GroupId, new { before = new { group.Name }, after = new { Name = name } }, ct: ct);
            return group with { Name = name };
        }, ct);
    }
}

/// <summary>Deletes a group and, by the foreign key's cascade, its memberships (admins); answers the group as it was.</summary>
internal sealed class DeleteGroupHandler(Db db, AuditTrail audit) : IHandler<DeleteGroup, GroupResponse>
{
    public Task<GroupResponse> HandleAsync(DeleteGroup command, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var deleted = await GroupRows.RequireAsync(c, tx, me.TenantId, command.GroupId, "FOR UPDATE OF g", ct);
            await c.ExecuteAsync(new CommandDefinition(
                "DELETE FROM user_groups WHERE tenant_id = @tenant AND id = @groupId",
                new { tenant = me.TenantId, groupId = command.GroupId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "group.deleted", "group", command.GroupId, new { before = new { deleted.Name, deleted.MemberCount } }, ct: ct);
            return deleted;
        }, ct);
}

/// <summary>Adds a user of the tenant to a group (admins) and answers the group with its members.</summary>
internal sealed class AddGroupMemberHandler(Db db, AuditTrail audit) : IHandler<AddGroupMember, GroupDetailResponse>
{
    public async Task<GroupDetailResponse> HandleAsync(AddGroupMember command, CurrentUser me, CancellationToken ct)
    {
        new Validator().Require(command.UserId is not null, "userId", "userId is required.").ThrowIfInvalid();
        var userId = RouteIds.Parse(command.UserId!, "userId");
        var groupId = command.GroupId;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            // The group first (an unknown group is 404 whatever the user), held so that a concurrent delete waits.
            await GroupRows.RequireAsync(c, tx, me.TenantId, groupId, "FOR SHARE OF g", ct);
            var email = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT email FROM users WHERE tenant_id = @tenant AND id = @userId", new { tenant = me.TenantId, userId }, tx, cancellationToken: ct))
                ?? throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "group.unknown_user", "The user does not exist in this tenant.");
            var added = await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO user_group_members (tenant_id, group_id, user_id) VALUES (@tenant, @groupId, @userId)
                ON CONFLICT (tenant_id, group_id, user_id) DO NOTHING
                """, new { tenant = me.TenantId, groupId, userId }, tx, cancellationToken: ct));
            if (added > 0)
            {
                await audit.RecordAsync(c, tx, "group.member_added", "group", groupId, new { userId, email }, ct: ct);
            }
            return await GroupRows.DetailAsync(c, tx, me.TenantId, groupId, ct);
        }, ct);
    }
}

/// <summary>Removes a member from a group (admins); 404 <c>group.member_not_found</c> when they were not one.</summary>
internal sealed class RemoveGroupMemberHandler(Db db, AuditTrail audit) : IHandler<RemoveGroupMember, bool>
{
    public Task<bool> HandleAsync(RemoveGroupMember command, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (groupId, userId) = (command.GroupId, command.UserId);
            await GroupRows.RequireAsync(c, tx, me.TenantId, groupId, "", ct);
            var removed = await c.ExecuteAsync(new CommandDefinition(
                "DELETE FROM user_group_members WHERE tenant_id = @tenant AND group_id = @groupId AND user_id = @userId",
                new { tenant = me.TenantId, groupId, userId }, tx, cancellationToken: ct));
            if (removed == 0)
            {
                throw new ApiProblem(StatusCodes.Status404NotFound, "group.member_not_found", "The user is not a member of this group.");
            }
            await audit.RecordAsync(c, tx, "group.member_removed", "group", groupId, new { userId }, ct: ct);
            return true;
        }, ct);
}
