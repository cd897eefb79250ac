using System.Text.Json;
using Dms.Modules.Documents.Bulk;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Approvals.Requests;

/// <summary>
/// <c>requestDelete</c> with <c>params {reason}</c> for bulk jobs: the very delete-request handler a single request uses, so each
/// document is governed by its workspace's policy (a request to approve, or a direct delete) and audited the same way. It opens
/// its own transaction, so a retry after a crash finds the request open and answers skipped instead of opening a second one.
/// </summary>
internal sealed class BulkRequestDelete(RequestDeleteHandler handler) : IBulkAction
{
    public string Name => "requestDelete";

    public void Validate(JsonElement parameters) => ChangeRequests.ValidReason(ReasonOf(parameters));

    public async Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct)
    {
        try
        {
            await handler.HandleAsync(new RequestDelete(documentId, ReasonOf(parameters)), requester, ct);
            return BulkItemResult.Done;
        }
        catch (ApiProblem problem) when (problem.Code == ChangeRequests.AlreadyPending().Code)
        {
            return BulkItemResult.Skipped("A request is already open for this document");
        }
    }

    private static string? ReasonOf(JsonElement parameters) =>
        parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("reason", out var reason) && reason.ValueKind == JsonValueKind.String
            ? reason.GetString()
            : null;
}
