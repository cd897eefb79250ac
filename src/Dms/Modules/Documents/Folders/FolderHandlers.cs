using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Folders;

internal static class FolderRows
{
    public const string Columns = "id, workspace_id, parent_id, name, created_at";
}

/// <summary>A folder in a workspace's top level or in <paramref name="ParentId"/>; ids as the client sent them.</summary>
internal sealed record CreateFolder(string? WorkspaceId, string? ParentId, string? Name);

internal sealed class CreateFolderHandler(Db db, AuditTrail audit) : IHandler<CreateFolder, FolderResponse>
{
    public async Task<FolderResponse> HandleAsync(CreateFolder command, CurrentUser me, CancellationToken ct)
    {
        var name = command.Name?.Trim();
        new Validator()
            .Require(command.WorkspaceId is not null, "workspaceId", "workspaceId is required.")
            .Require(IsValidFolderName(name), "name", "name must be 1-255 characters without '/', '\\' or control characters, and not '.' or '..'.")
            .ThrowIfInvalid();
        var workspaceId = RouteIds.Parse(command.WorkspaceId!, "workspaceId");
        var parentId = RouteIds.ParseOptional(command.ParentId, "parentId");

        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (ws, parent) = await Placement.ResolveWritableAsync(c, tx, me, workspaceId, parentId, ct);
            var created = await c.QuerySingleOrDefaultAsync<FolderResponse>(new CommandDefinition($"""
                INSERT INTO folders (id, tenant_id, workspace_id, parent_id, name, created_by)
                VALUES (@id, @tenant, @ws, @parent, @name, @user)
                ON CONFLICT (tenant_id, workspace_id, parent_id, lower(name)) DO NOTHING
                RETURNING {FolderRows.Columns}
                """, new { id = Guid.CreateVersion7(), tenant = me.TenantId, ws, parent, name, user = me.UserId }, tx, cancellationToken: ct));
            if (created is not null)
            {
                await audit.RecordAsync(c, tx, "folder.created", "folder", created.Id, new { created.Name, created.WorkspaceId, created.ParentId }, ct: ct);
            }
            return created;
        }, ct) ?? throw ApiProblem.Conflict("folder.name_taken", "A folder with this name already exists here.");
    }

    private static bool IsValidFolderName(string? name) =>
        name is { Length: >= 1 and <= 255 } && name is not ("." or "..") &&
        !name.Any(c => char.IsControl(c) || c is '/' or '\\');
}

internal sealed record GetFolder(Guid FolderId);

/// <summary>A folder with its subfolders, its first page of documents and its ancestors (for breadcrumbs).</summary>
internal sealed class GetFolderHandler(Db db) : IHandler<GetFolder, FolderContentsResponse>
{
    private const int DocumentsPerFolderPage = 50;

    public async Task<FolderContentsResponse> HandleAsync(GetFolder query, CurrentUser me, CancellationToken ct)
    {
        var folderId = query.FolderId;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var folder = await c.QuerySingleOrDefaultAsync<FolderResponse>(new CommandDefinition(
                $"SELECT {FolderRows.Columns} FROM folders WHERE tenant_id = @tenant AND id = @folderId", new { tenant = me.TenantId, folderId }, tx, cancellationToken: ct));
            if (folder is null)
            {
                return null;
            }
            await WorkspaceAccess.RequireAsync(c, tx, me, folder.WorkspaceId, WorkspaceAction.Read, "folder", ct);
            var children = await c.QueryAsync<FolderResponse>(new CommandDefinition(
                $"SELECT {FolderRows.Columns} FROM folders WHERE tenant_id = @tenant AND parent_id = @folderId ORDER BY lower(name)",
                new { tenant = me.TenantId, folderId }, tx, cancellationToken: ct));
            var documents = await DocumentReadModel.ListAsync(c, tx,
                new DocumentFilter(me.TenantId, null, null, folderId, null, null, DocumentsPerFolderPage, me), ct);
            // The ancestors from the top-level folder down to the parent, for breadcrumbs; the depth guard only stops a cycle the
            // foreign keys cannot rule out.
            var path = await c.QueryAsync<FolderResponse>(new CommandDefinition($"""
                WITH RECURSIVE up AS (
                    SELECT {FolderRows.Columns}, 1 AS depth FROM folders WHERE tenant_id = @tenant AND id = @parentId
                    UNION ALL
                    SELECT f.id, f.workspace_id, f.parent_id, f.name, f.created_at, up.depth + 1
                    FROM folders f JOIN up ON f.tenant_id = @tenant AND f.id = up.parent_id WHERE up.depth < 100)
                SELECT {FolderRows.Columns} FROM up ORDER BY depth DESC
                """, new { tenant = me.TenantId, parentId = folder.ParentId }, tx, cancellationToken: ct));
            return new FolderContentsResponse(folder.Id, folder.WorkspaceId, folder.ParentId, folder.Name, folder.CreatedAt, children, documents, path);
        }, ct) ?? throw ApiProblem.NotFound("folder");
    }
}

internal sealed record ListTopLevelFolders(Guid WorkspaceId);

/// <summary>A workspace's top-level folders, by name; 404 when the workspace is not readable.</summary>
internal sealed class ListTopLevelFoldersHandler(Db db) : IHandler<ListTopLevelFolders, IReadOnlyList<FolderResponse>>
{
    public async Task<IReadOnlyList<FolderResponse>> HandleAsync(ListTopLevelFolders query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, query.WorkspaceId, WorkspaceAction.Read, "workspace", ct);
            return (await c.QueryAsync<FolderResponse>(new CommandDefinition(
                $"SELECT {FolderRows.Columns} FROM folders WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND parent_id IS NULL ORDER BY lower(name), id",
                new { tenant = me.TenantId, query.WorkspaceId }, tx, cancellationToken: ct))).ToList();
        }, ct);
}
