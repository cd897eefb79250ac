using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Move;

/// <summary>A place a document can be moved to: a workspace's top level (<see cref="FolderId"/> null) or one of its folders, with its path.</summary>
internal sealed record MoveTarget(Guid WorkspaceId, string WorkspaceName, Guid? FolderId, string? FolderPath);

internal sealed record ListMoveTargets;

/// <summary>
/// Where the caller could move a document: each workspace they may contribute to, and its folders by path (the move page's
/// choices). Bounded: a tenant with more folders than <see cref="MaxFolders"/> gets the first ones by path; the API takes any.
/// </summary>
internal sealed class ListMoveTargetsHandler(Db db) : IHandler<ListMoveTargets, IReadOnlyList<MoveTarget>>
{
    public const int MaxFolders = 1000;

    public Task<IReadOnlyList<MoveTarget>> HandleAsync(ListMoveTargets query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var writable = (await DocumentLookups.ContributableWorkspacesAsync(c, tx, me, ct)).ToArray();
            var workspaces = (await c.QueryAsync<(Guid Id, string Name)>(new CommandDefinition(
                "SELECT id, name FROM workspaces WHERE tenant_id = @tenant AND id = ANY(@writable) ORDER BY is_default DESC, name",
                new { tenant = me.TenantId, writable }, tx, cancellationToken: ct))).ToList();
            var folders = (await c.QueryAsync<(Guid WorkspaceId, Guid Id, string Path)>(new CommandDefinition($"""
                WITH RECURSIVE tree AS (
                  SELECT f.workspace_id, f.id, f.name::text AS path FROM folders f
                  WHERE f.tenant_id = @tenant AND f.workspace_id = ANY(@writable) AND f.parent_id IS NULL
                  UNION ALL
                  SELECT f.workspace_id, f.id, tree.path || ' / ' || f.name FROM folders f
                  JOIN tree ON f.parent_id = tree.id
                  WHERE f.tenant_id = @tenant
                )
                SELECT workspace_id, id, path FROM tree ORDER BY path LIMIT {MaxFolders}
                """, new { tenant = me.TenantId, writable }, tx, cancellationToken: ct))).ToLookup(f => f.WorkspaceId);
            IReadOnlyList<MoveTarget> targets = [.. workspaces.SelectMany(w =>
                folders[w.Id].Select(f => new MoveTarget(w.Id, w.Name, f.Id, f.Path)).Prepend(new MoveTarget(w.Id, w.Name, null, null)))];
            return targets;
        }, ct);
}
