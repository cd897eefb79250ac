using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Queries;

/// <summary>
/// The staged file of a replace request, so that the decider (and the requester) can see what would become the next
/// version before it does: authorised and audited here; the adapter serves the bytes.
/// </summary>
internal sealed record ApprovalContent(Guid ApprovalId, bool Streamed);

internal sealed record StagedFile(string BlobKey, long Size, BlobDownloadInfo Info, DateTime CreatedAt);

internal sealed class ApprovalContentHandler(Db db, IBlobStore blobs, AuditTrail audit, TimeProvider clock) : IHandler<ApprovalContent, StagedFile>
{
    public async Task<StagedFile> HandleAsync(ApprovalContent query, CurrentUser me, CancellationToken ct)
    {
        var request = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var found = await ApprovalRequests.GetAsync(c, tx, me.TenantId, query.ApprovalId, forUpdate: false, ct);
            // Admins; the request's approvers (and their delegates), who need the proposed file to decide; the requester
            // while they can still read the document. Anyone else: as if it did not exist.
            if (found is null || (!me.IsAdmin
                && (found.RequestedBy == me.UserId
                    ? !await WorkspaceAccess.AllowsOnLiveDocumentAsync(c, tx, me, found.DocumentId, WorkspaceAction.Read, ct)
                    : !await Ballots.CanSeeAsync(c, tx, me, found, clock.GetUtcNow().UtcDateTime, ct))))
            {
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
            new { request.DocumentId, mode = query.Streamed ? "stream" : "redirect" }, ct: ct), ct);

        return new StagedFile(request.StagedBlobKey!, request.StagedSize!.Value,
            new BlobDownloadInfo(request.StagedFileName!, request.StagedContentType!, request.StagedSha256!), request.CreatedAt);
    }
}
