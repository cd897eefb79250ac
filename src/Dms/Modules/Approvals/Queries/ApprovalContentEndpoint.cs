using Dms.Modules.Documents;
using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Approvals.Queries;

/// <summary>
/// <c>GET /api/v1/approvals/{id}/content[?redirect=false]</c>: the staged file of a replace request, so that the
/// decider (and the requester) can see what would become the next version before it does. Served like a
/// document download (authorised and audited first, then a 302 to a short-lived attachment URL, or streamed).
/// </summary>
internal static class ApprovalContentEndpoint
{
    public static async Task<IResult> Handle(HttpContext http, string id, bool? redirect, Db db, IBlobStore blobs,
        IOptions<DmsOptions> options, TimeProvider clock, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var requestId = RouteIds.Parse(id);
        var request = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var found = await ApprovalRequests.GetAsync(c, tx, me.TenantId, requestId, forUpdate: false, ct);
            if (found is null || (!me.IsAdmin && (found.RequestedBy != me.UserId || !await WorkspaceAccess.AllowsOnLiveDocumentAsync(c, tx, me, found.DocumentId, WorkspaceAction.Read, ct))))
            {
                // Someone else's request, or one whose workspace the requester can no longer read: as if it did not exist.
                return null;
            }
            return found;
        }, ct) ?? throw ApprovalRequests.NotFound();

        // Only a replace has a file; it is gone once the request was carried out (it became a version) or discarded.
        var blob = request.Type == ApprovalType.Replace && request.StagedBlobKey is { } key ? await blobs.HeadAsync(key, ct) : null;
        if (blob is null)
        {
            throw new ApiProblem(StatusCodes.Status404NotFound, "approval.content_not_found",
                "This request has no staged file.", "Only a replace request that is still open (or not yet carried out) has one.");
        }

        await db.InTenantAsync(me.TenantId, (c, tx) => audit.RecordAsync(c, tx, "approval.content_downloaded", "approval", request.Id,
            new { request.DocumentId, mode = redirect == false ? "stream" : "redirect" }, ct: ct), ct);

        return await BlobResponses.DownloadAsync(http, blobs, options.Value, clock, request.StagedBlobKey!, request.StagedSize!.Value,
            new BlobDownloadInfo(request.StagedFileName!, request.StagedContentType!, request.StagedSha256!), request.CreatedAt, redirect, ct);
    }
}
