using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Ui;

/// <summary>A deleted (or purged) document the caller could read while it existed.</summary>
internal sealed record GoneDocument(Guid Id, string Title, string Status, DateTime? DeletedAt);

/// <summary>
/// What pages need to show people words instead of ids and to offer only what the caller may do: read-only
/// lookups with no API counterpart (ADR 0014). They run as the caller's tenant, under row-level security, and
/// decide nothing: every action still goes through the API's handler, which checks again.
/// </summary>
internal static class UiLookups
{
    /// <summary>The workspaces the caller may upload to, create folders in and request changes in (<see cref="WorkspaceAction.Contribute"/>).</summary>
    public static async Task<HashSet<Guid>> ContributableWorkspacesAsync(Db db, CurrentUser me, CancellationToken ct)
    {
        var rows = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<(Guid Id, string? Role)>(new CommandDefinition("""
            SELECT w.id, m.role FROM workspaces w
            LEFT JOIN workspace_members m ON m.tenant_id = w.tenant_id AND m.workspace_id = w.id AND m.user_id = @user
            WHERE w.tenant_id = @tenant
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct);
        return [.. rows.Where(r => Permissions.Allows(me.Role, r.Role, WorkspaceAction.Contribute)).Select(r => r.Id)];
    }

    /// <summary>
    /// A document that is no longer live, if the caller may read its workspace: "it was deleted" is then news the
    /// caller may have, where an unknown or unreadable id stays "not found".
    /// </summary>
    public static async Task<GoneDocument?> GoneDocumentAsync(Db db, CurrentUser me, string id, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var documentId))
        {
            return null;
        }
        var row = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<(Guid Id, string Title, string Status, DateTime? DeletedAt, string? Role)?>(
            new CommandDefinition("""
                SELECT d.id, d.title, d.status, d.deleted_at, m.role FROM documents d
                LEFT JOIN workspace_members m ON m.tenant_id = d.tenant_id AND m.workspace_id = d.workspace_id AND m.user_id = @user
                WHERE d.tenant_id = @tenant AND d.id = @documentId AND d.status IN ('Deleted', 'Purged')
                """, new { tenant = me.TenantId, documentId, user = me.UserId }, tx, cancellationToken: ct)), ct);
        return row is { } r && Permissions.Allows(me.Role, r.Role, WorkspaceAction.Read) ? new GoneDocument(r.Id, r.Title, r.Status, r.DeletedAt) : null;
    }

    /// <summary>
    /// Names for audit entities, by id: a document's title, a user's e-mail, a workspace's or folder's or token's
    /// name, and for a request its type and its document's title. Ids that name nothing (anymore) are left out.
    /// The audit trail is for Admins and Auditors, who see every event's data already; titles add no access.
    /// </summary>
    public static async Task<Dictionary<string, string>> EntityNamesAsync(Db db, CurrentUser me, IEnumerable<string?> ids, CancellationToken ct)
    {
        var guids = ids.Select(i => Guid.TryParse(i, out var g) ? g : Guid.Empty).Where(g => g != Guid.Empty).Distinct().ToArray();
        if (guids.Length == 0)
        {
            return [];
        }
        var rows = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<(Guid Id, string Name)>(new CommandDefinition("""
            SELECT id, title FROM documents WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, email FROM users WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM workspaces WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM folders WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM api_tokens WHERE tenant_id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM tenants WHERE id = @tenant AND id = ANY(@ids)
            UNION ALL SELECT a.id, lower(a.type) || ' request for “' || d.title || '”' FROM approval_requests a
                JOIN documents d ON d.tenant_id = a.tenant_id AND d.id = a.document_id
                WHERE a.tenant_id = @tenant AND a.id = ANY(@ids)
            """, new { tenant = me.TenantId, ids = guids }, tx, cancellationToken: ct)), ct);
        var names = new Dictionary<string, string>();
        foreach (var (rowId, name) in rows)
        {
            names.TryAdd(rowId.ToString(), name);
        }
        return names;
    }
}
