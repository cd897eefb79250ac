using Dapper;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Platform.Security;

/// <summary>
/// Applies <see cref="Permissions"/> to a workspace for the caller. Without read access a workspace (and
/// everything in it) does not exist for the caller: 404, never 403, so ids leak nothing.
/// </summary>
internal static class WorkspaceAccess
{
    /// <summary>SQL condition on a workspace id column: the caller may read it (bind <see cref="Parameters"/>).</summary>
    public static string Readable(string column) =>
        $"(@isAdmin OR {column} IN (SELECT m.workspace_id FROM workspace_members m WHERE m.tenant_id = @accessTenant AND m.user_id = @accessUser))";

    public static object Parameters(CurrentUser me) => new { isAdmin = me.IsAdmin, accessTenant = me.TenantId, accessUser = me.UserId };

    public static async Task<string?> RoleInAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid workspaceId, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT role FROM workspace_members WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND user_id = @user",
            new { tenant = me.TenantId, workspaceId, user = me.UserId }, tx, cancellationToken: ct));

    /// <summary>Throws 404 <paramref name="entity"/>.not_found without read access, 403 without <paramref name="action"/>.</summary>
    public static async Task RequireAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid workspaceId, WorkspaceAction action,
        string entity, CancellationToken ct)
    {
        if (me.IsAdmin)
        {
            return;
        }
        var role = await RoleInAsync(c, tx, me, workspaceId, ct);
        if (!Permissions.Allows(me.Role, role, WorkspaceAction.Read))
        {
            throw ApiProblem.NotFound(entity);
        }
        if (!Permissions.Allows(me.Role, role, action))
        {
            throw ApiProblem.Forbidden("workspace.forbidden",
                action == WorkspaceAction.ManageMembers ? "Only the workspace's managers manage its members." : "Your role in this workspace only lets you read.");
        }
    }

    /// <summary>The workspace of a document, or 404.</summary>
    public static async Task<Guid> WorkspaceOfDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT workspace_id FROM documents WHERE tenant_id = @tenant AND id = @documentId", new { tenant, documentId }, tx, cancellationToken: ct))
        ?? throw ApiProblem.NotFound("document");

    public static async Task RequireForDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, WorkspaceAction action, CancellationToken ct)
    {
        if (me.IsAdmin)
        {
            return;
        }
        var workspaceId = await WorkspaceOfDocumentAsync(c, tx, me.TenantId, documentId, ct);
        await RequireAsync(c, tx, me, workspaceId, action, "document", ct);
    }
}
