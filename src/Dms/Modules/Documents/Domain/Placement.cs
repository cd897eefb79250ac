using Dapper;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>Where a document or folder goes: a workspace (the default one when none is named) and an optional folder in it.</summary>
internal static class Placement
{
    public static async Task<(Guid WorkspaceId, Guid? FolderId)> ResolveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        Guid? workspaceId, Guid? folderId, CancellationToken ct)
    {
        if (folderId is { } folder)
        {
            var folderWorkspace = await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT workspace_id FROM folders WHERE tenant_id = @tenant AND id = @folder", new { tenant, folder }, tx, cancellationToken: ct))
                ?? throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "folder.not_found", "The folder does not exist.");
            if (workspaceId is { } ws && ws != folderWorkspace)
            {
                throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "folder.wrong_workspace", "The folder belongs to another workspace.");
            }
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
