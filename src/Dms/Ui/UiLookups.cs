using Dms.Modules.Access;
using Dms.Modules.Approvals;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Ui;

/// <summary>
/// What pages need to show people words instead of ids and to offer only what the caller may do: read-only
/// lookups with no API counterpart (ADR 0014), answered by the owning modules' facades in one tenant transaction.
/// They decide nothing: every action still goes through a handler, which checks again.
/// </summary>
internal static class UiLookups
{
    /// <summary>The workspaces the caller may upload to, create folders in and request changes in.</summary>
    public static Task<HashSet<Guid>> ContributableWorkspacesAsync(Db db, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => DocumentLookups.ContributableWorkspacesAsync(c, tx, me, ct), ct);

    /// <summary>The tenant's storage against its plan: the upload area's "space left" and the trash page's note.</summary>
    public static Task<StorageQuota> StorageAsync(Db db, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => StorageUsage.QuotaAsync(c, tx, me.TenantId, ct), ct);

    /// <summary>A document that is no longer live, if the caller may read its workspace (else null, as for an unknown id).</summary>
    public static async Task<GoneDocument?> GoneDocumentAsync(Db db, CurrentUser me, string id, CancellationToken ct) =>
        Guid.TryParse(id, out var documentId)
            ? await db.InTenantAsync(me.TenantId, (c, tx) => DocumentLookups.GoneAsync(c, tx, me, documentId, ct), ct)
            : null;

    /// <summary>The tenant's enabled users by e-mail, to choose a person by name rather than by id (a document's "user" field).</summary>
    public static Task<IReadOnlyList<(Guid Id, string Email)>> PeopleAsync(Db db, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => UserDirectory.ActiveUsersAsync(c, tx, me.TenantId, 500, ct), ct);

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
        var rows = await db.InTenantAsync(me.TenantId, async (c, tx) => (await DocumentLookups.NamesAsync(c, tx, me.TenantId, guids, ct))
            .Concat(await UserDirectory.NamesAsync(c, tx, me.TenantId, guids, ct))
            .Concat(await ApprovalDirectory.NamesAsync(c, tx, me.TenantId, guids, ct)).ToList(), ct);
        var names = new Dictionary<string, string>();
        foreach (var (rowId, name) in rows)
        {
            names.TryAdd(rowId.ToString(), name);
        }
        return names;
    }
}
