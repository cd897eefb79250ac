using System.Text.Json;
using Dms.Modules.Documents.Bulk;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Move;

/// <summary>The bulk job's <c>move</c> (params <c>{workspaceId, folderId}</c>): the single move, document by document, as the requester.</summary>
internal sealed class MoveBulkAction(MoveDocumentHandler handler) : IBulkAction
{
    public string Name => "move";

    public void Validate(JsonElement parameters) => MoveEndpoints.Parse(parameters);

    public async Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct)
    {
        var (workspaceId, folderId) = MoveEndpoints.Parse(parameters);
        var result = await handler.HandleAsync(new MoveDocument(documentId, null, workspaceId, folderId), requester, ct);
        return result.Moved ? BulkItemResult.Done : BulkItemResult.Skipped("It is already there.");
    }
}
