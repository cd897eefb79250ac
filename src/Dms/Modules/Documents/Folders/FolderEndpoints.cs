using Dms.Modules.Documents;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Folders;

internal sealed record CreateFolderRequest(string WorkspaceId, string? ParentId, string Name);

internal sealed record FolderResponse(Guid Id, Guid WorkspaceId, Guid? ParentId, string Name, DateTime CreatedAt);

internal sealed record FolderContentsResponse(Guid Id, Guid WorkspaceId, Guid? ParentId, string Name, DateTime CreatedAt,
    IEnumerable<FolderResponse> Children, Page<DocumentResponse> Documents, IEnumerable<FolderResponse> Path);

/// <summary><c>/api/v1/folders</c>: a tree per workspace; sibling names are unique case-insensitively.</summary>
internal static class FolderEndpoints
{
    private const string Columns = "id, workspace_id, parent_id, name, created_at";
    private const int DocumentsPerFolderPage = 50;

    public static async Task<IResult> Create(HttpContext http, CreateFolderRequest body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var name = body.Name?.Trim();
        new Validator()
            .Require(body.WorkspaceId is not null, "workspaceId", "workspaceId is required.")
            .Require(IsValidFolderName(name), "name", "name must be 1-255 characters without '/', '\\' or control characters, and not '.' or '..'.")
            .ThrowIfInvalid();
        var workspaceId = RouteIds.Parse(body.WorkspaceId!, "workspaceId");
        var parentId = RouteIds.ParseOptional(body.ParentId, "parentId");

        var folder = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (ws, parent) = await Placement.ResolveWritableAsync(c, tx, me, workspaceId, parentId, ct);
            var created = await c.QuerySingleOrDefaultAsync<FolderResponse>(new CommandDefinition($"""
                INSERT INTO folders (id, tenant_id, workspace_id, parent_id, name, created_by)
                VALUES (@id, @tenant, @ws, @parent, @name, @user)
                ON CONFLICT (tenant_id, workspace_id, parent_id, lower(name)) DO NOTHING
                RETURNING {Columns}
                """, new { id = Guid.CreateVersion7(), tenant = me.TenantId, ws, parent, name, user = me.UserId }, tx, cancellationToken: ct));
            if (created is not null)
            {
                await audit.RecordAsync(c, tx, "folder.created", "folder", created.Id, new { created.Name, created.WorkspaceId, created.ParentId }, ct: ct);
            }
            return created;
        }, ct) ?? throw ApiProblem.Conflict("folder.name_taken", "A folder with this name already exists here.");
        return Results.Created($"/api/v1/folders/{folder.Id}", folder);
    }

    public static async Task<IResult> Get(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var folderId = RouteIds.Parse(id);
        var contents = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var folder = await c.QuerySingleOrDefaultAsync<FolderResponse>(new CommandDefinition(
                $"SELECT {Columns} FROM folders WHERE tenant_id = @tenant AND id = @folderId", new { tenant = me.TenantId, folderId }, tx, cancellationToken: ct));
            if (folder is null)
            {
                return null;
            }
            await WorkspaceAccess.RequireAsync(c, tx, me, folder.WorkspaceId, WorkspaceAction.Read, "folder", ct);
            var children = await c.QueryAsync<FolderResponse>(new CommandDefinition(
                $"SELECT {Columns} FROM folders WHERE tenant_id = @tenant AND parent_id = @folderId ORDER BY lower(name)",
                new { tenant = me.TenantId, folderId }, tx, cancellationToken: ct));
            var documents = await DocumentReadModel.ListAsync(c, tx,
                new DocumentFilter(me.TenantId, null, null, folderId, null, null, DocumentsPerFolderPage, me), ct);
            // The ancestors from the top-level folder down to the parent, for breadcrumbs; the depth guard only stops a cycle the
            // foreign keys cannot rule out.
            var path = await c.QueryAsync<FolderResponse>(new CommandDefinition($"""
                WITH RECURSIVE up AS (
                    SELECT {Columns}, 1 AS depth FROM folders WHERE tenant_id = @tenant AND id = @parentId
                    UNION ALL
                    SELECT f.id, f.workspace_id, f.parent_id, f.name, f.created_at, up.depth + 1
                    FROM folders f JOIN up ON f.tenant_id = @tenant AND f.id = up.parent_id WHERE up.depth < 100)
                SELECT {Columns} FROM up ORDER BY depth DESC
                """, new { tenant = me.TenantId, parentId = folder.ParentId }, tx, cancellationToken: ct));
            return new FolderContentsResponse(folder.Id, folder.WorkspaceId, folder.ParentId, folder.Name, folder.CreatedAt, children, documents, path);
        }, ct) ?? throw ApiProblem.NotFound("folder");
        return Results.Ok(contents);
    }

    /// <summary><c>GET /api/v1/workspaces/{id}/folders</c>: the workspace's top-level folders, by name; 404 when it is not readable.</summary>
    public static async Task<IResult> TopLevel(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var items = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, workspaceId, WorkspaceAction.Read, "workspace", ct);
            return await c.QueryAsync<FolderResponse>(new CommandDefinition(
                $"SELECT {Columns} FROM folders WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND parent_id IS NULL ORDER BY lower(name), id",
                new { tenant = me.TenantId, workspaceId }, tx, cancellationToken: ct));
        }, ct);
        return Results.Ok(new { items });
    }

    private static bool IsValidFolderName(string? name) =>
        name is { Length: >= 1 and <= 255 } && name is not ("." or "..") &&
        !name.Any(c => char.IsControl(c) || c is '/' or '\\');
}
