using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents;

/// <summary>
/// Applies <see cref="Permissions"/> to a workspace for the caller. Without read access a workspace (and
/// everything in it) does not exist for the caller: 404, never 403, so ids leak nothing.
/// </summary>
internal static class WorkspaceAccess
{
    /// <summary>SQL condition on a workspace id column: the caller may read it (bind <see cref="Parameters"/>).</summary>
    public static string Readable(string column) =>
        $"(@isAdmin OR {column} IN ({ReadableWorkspaces}))";

    /// <summary>
    /// The ids of the workspaces a non-admin caller may read (bind <see cref="Parameters"/>): the same rule as
    /// <see cref="Readable"/>, as a row source a query can start from (one index walk per workspace, issue 12).
    /// </summary>
    public const string ReadableWorkspaces =
        "SELECT m.workspace_id FROM workspace_members m WHERE m.tenant_id = @accessTenant AND m.user_id = @accessUser";

    public static object Parameters(CurrentUser me) => new { isAdmin = me.IsAdmin, accessTenant = me.TenantId, accessUser = me.UserId };

    public static async Task<string?> RoleInAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid workspaceId, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT role FROM workspace_members WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND user_id = @user",
            new { tenant = me.TenantId, workspaceId, user = me.UserId }, tx, cancellationToken: ct));

    /// <summary>
    /// Throws 404 <paramref name="entity"/>.not_found when the workspace does not exist or the caller cannot read
    /// it, 403 without <paramref name="action"/>. One round trip: the workspace and the caller's role in it.
    /// </summary>
    public static async Task RequireAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid workspaceId, WorkspaceAction action,
        string entity, CancellationToken ct)
    {
        var scope = await c.QuerySingleOrDefaultAsync<Scope?>(new CommandDefinition("""
            SELECT w.id AS WorkspaceId, m.role AS Role FROM workspaces w
            LEFT JOIN workspace_members m ON m.tenant_id = w.tenant_id AND m.workspace_id = w.id AND m.user_id = @user
            WHERE w.tenant_id = @tenant AND w.id = @workspaceId
            """, new { tenant = me.TenantId, workspaceId, user = me.UserId }, tx, cancellationToken: ct));
        Check(me, scope, action, entity);
    }

    /// <summary>As <see cref="RequireAsync"/> for the workspace of a document (404 document.not_found), in one round trip.</summary>
    public static async Task RequireForDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, WorkspaceAction action, CancellationToken ct) =>
        Check(me, await DocumentScopeAsync(c, tx, me, documentId, liveOnly: false, ct), action, "document");

    /// <summary>
    /// Columns and join that give a document query the caller's role in the document's workspace (<c>member_role</c>;
    /// bind <c>@accessUser</c>), so the read check rides on the query itself (one round trip, issue 12) and is decided by
    /// <see cref="RequireRead"/> exactly as <see cref="RequireForDocumentAsync"/> decides it.
    /// </summary>
    public const string MemberRoleJoin =
        "LEFT JOIN workspace_members m ON m.tenant_id = d.tenant_id AND m.workspace_id = d.workspace_id AND m.user_id = @accessUser";

    /// <summary>404 <paramref name="entity"/>.not_found unless the row was found and the caller may read its workspace.</summary>
    public static void RequireRead(CurrentUser me, bool found, string? memberRole, string entity)
    {
        if (!found || !Permissions.Allows(me.Role, memberRole, WorkspaceAction.Read))
        {
            throw ApiProblem.NotFound(entity);
        }
    }

    /// <summary>Whether the caller may do <paramref name="action"/> on a document that exists and is not deleted or purged.</summary>
    public static async Task<bool> AllowsOnLiveDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, WorkspaceAction action,
        CancellationToken ct) =>
        await DocumentScopeAsync(c, tx, me, documentId, liveOnly: true, ct) is { } scope && Permissions.Allows(me.Role, scope.Role, action);

    private static Task<Scope?> DocumentScopeAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, bool liveOnly, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<Scope?>(new CommandDefinition($"""
            SELECT d.workspace_id AS WorkspaceId, m.role AS Role FROM documents d
            LEFT JOIN workspace_members m ON m.tenant_id = d.tenant_id AND m.workspace_id = d.workspace_id AND m.user_id = @user
            WHERE d.tenant_id = @tenant AND d.id = @documentId{(liveOnly ? $" AND d.status NOT IN ({DocumentStates.Gone.Sql()})" : "")}
            """, new { tenant = me.TenantId, documentId, user = me.UserId }, tx, cancellationToken: ct));

    private static void Check(CurrentUser me, Scope? scope, WorkspaceAction action, string entity)
    {
        if (scope is not { } found || !Permissions.Allows(me.Role, found.Role, WorkspaceAction.Read))
        {
            throw ApiProblem.NotFound(entity);
        }
        if (!Permissions.Allows(me.Role, found.Role, action))
        {
            throw ApiProblem.Forbidden("workspace.forbidden",
                action == WorkspaceAction.ManageMembers ? "Only the workspace's managers manage its members." : "Your role in this workspace only lets you read.");
        }
    }

    private sealed record Scope(Guid WorkspaceId, string? Role);
}
