using Dapper;
using Dms.Modules.Documents;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>Where a document or folder goes: a workspace (the default one when none is named) and an optional folder in it.</summary>
internal static class Placement
{
    /// <summary>
    /// Resolves where a new document or folder goes and checks the caller may contribute there: a workspace
    /// the caller cannot read is reported as not existing (422), one they may only read is 403.
    /// </summary>
    public static async Task<(Guid WorkspaceId, Guid? FolderId)> ResolveWritableAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me,
        Guid? workspaceId, Guid? folderId, CancellationToken ct)
    {
        var (ws, folder) = await ResolveAsync(c, tx, me.TenantId, workspaceId, folderId, ct);
        if (!me.IsAdmin)
        {
            // Access before consistency: a folder in a workspace the caller cannot read answers as unknown,
            // never as "in another workspace", which would tell that it exists.
            var role = await WorkspaceAccess.RoleInAsync(c, tx, me, ws, ct);
            if (!Permissions.Allows(me.Role, role, WorkspaceAction.Read))
            {
                throw folder is null
                    ? new ApiProblem(StatusCodes.Status422UnprocessableEntity, "workspace.not_found", "The workspace does not exist.")
                    : new ApiProblem(StatusCodes.Status422UnprocessableEntity, "folder.not_found", "The folder does not exist.");
            }
            if (!Permissions.Allows(me.Role, role, WorkspaceAction.Contribute))
            {
                throw ApiProblem.Forbidden("workspace.forbidden", "Your role in this workspace only lets you read.");
            }
        }
        if (folder is not null && workspaceId is { } named && named != ws)
        {
            throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "folder.wrong_workspace", "The folder belongs to another workspace.");
        }
        return (ws, folder);
    }

    /// <summary>The workspace (a folder's own when a folder is named, whatever <paramref name="workspaceId"/> says) and the folder.</summary>
    private static async Task<(Guid WorkspaceId, Guid? FolderId)> ResolveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        Guid? workspaceId, Guid? folderId, CancellationToken ct)
    {
        if (folderId is { } folder)
        {
            var folderWorkspace = await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT workspace_id FROM folders WHERE tenant_id = @tenant AND id = @folder", new { tenant, folder }, tx, cancellationToken: ct))
                ?? throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "folder.not_found", "The folder does not exist.");
            return (folderWorkspace, folder);
        }
        var workspace = workspaceId is { } id
            ? await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT id FROM workspaces WHERE tenant_id = @tenant AND id = @id", new { tenant, id }, tx, cancellationToken: ct))
            : await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT id FROM workspaces WHERE tenant_id = @tenant AND is_default", new { tenant }, tx, cancellationToken: ct));
        return workspace is { } found
            ? (found, null)
            : throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "workspace.not_found", "The workspace does not exist.");
    }
}
