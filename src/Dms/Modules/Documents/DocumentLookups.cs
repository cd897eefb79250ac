using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents;

/// <summary>A deleted (or purged) document the caller could read while it existed.</summary>
internal sealed record GoneDocument(Guid Id, string Title, DocumentStatus Status, DateTime? DeletedAt);

/// <summary>
/// Read-only lookups the UI needs to speak in words and offer only what the caller may do (ADR 0014). They run in the
/// caller's transaction and decide nothing: every action still goes through a handler, which checks again.
/// </summary>
internal static class DocumentLookups
{
    /// <summary>The workspaces the caller may upload to, create folders in and request changes in (<see cref="WorkspaceAction.Contribute"/>).</summary>
    public static async Task<HashSet<Guid>> ContributableWorkspacesAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, CancellationToken ct)
    {
        var rows = await c.QueryAsync<(Guid Id, string? Role)>(new CommandDefinition("""
            SELECT w.id, m.role FROM workspaces w
            LEFT JOIN workspace_members m ON m.tenant_id = w.tenant_id AND m.workspace_id = w.id AND m.user_id = @user
            WHERE w.tenant_id = @tenant
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct));
        return [.. rows.Where(r => Permissions.Allows(me.Role, r.Role, WorkspaceAction.Contribute)).Select(r => r.Id)];
    }

    /// <summary>
    /// A document that is no longer live, if the caller may read its workspace: "it was deleted" is then news the
    /// caller may have, where an unknown or unreadable id stays "not found".
    /// </summary>
    public static async Task<GoneDocument?> GoneAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, CancellationToken ct)
    {
        var row = await c.QuerySingleOrDefaultAsync<(Guid Id, string Title, DocumentStatus Status, DateTime? DeletedAt, string? Role)?>(new CommandDefinition($"""
            SELECT d.id, d.title, d.status, d.deleted_at, m.role FROM documents d
            LEFT JOIN workspace_members m ON m.tenant_id = d.tenant_id AND m.workspace_id = d.workspace_id AND m.user_id = @user
            WHERE d.tenant_id = @tenant AND d.id = @documentId AND d.status IN ({DocumentStates.Gone.Sql()})
            """, new { tenant = me.TenantId, documentId, user = me.UserId }, tx, cancellationToken: ct));
        return row is { } r && Permissions.Allows(me.Role, r.Role, WorkspaceAction.Read) ? new GoneDocument(r.Id, r.Title, r.Status, r.DeletedAt) : null;
    }

    /// <summary>Names of documents (title), workspaces and folders among <paramref name="ids"/>; ids that name none of them are absent.</summary>
    public static async Task<IReadOnlyList<(Guid Id, string Name)>> NamesAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid[] ids, CancellationToken ct) =>
        (await c.QueryAsync<(Guid Id, string Name)>(new CommandDefinition("""
            SELECT id, title FROM documents WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM workspaces WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM folders WHERE tenant_id = @tenant AND id = ANY(@ids)
            """, new { tenant, ids }, tx, cancellationToken: ct))).ToList();
}
