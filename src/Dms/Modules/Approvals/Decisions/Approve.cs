using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>An admin other than the requester says yes; the change itself is carried out through the outbox.</summary>
internal sealed record Approve(Guid ApprovalId, string? Comment);

/// <summary>
/// Approving writes the execution message in the same transaction as the decision: the decision and its effect
/// cannot come apart. A request whose document moved on (another version) or went on legal hold is refused.
/// </summary>
internal sealed class ApproveHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<Approve, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(Approve command, CurrentUser me, CancellationToken ct)
    {
        var comment = Decide.Comment(command.Comment);
        return Decide.OnPendingAsync(db, audit, clock, me, command.ApprovalId, selfAllowed: false, async (c, tx, request) =>
        {
            var document = await DocumentsFacade.LockAsync(c, tx, me.TenantId, request.DocumentId, ct);
            if (document.CurrentVersion != request.BasedOnVersion)
            {
                return ApiProblem.Conflict("approval.stale",
                    $"The document changed since the request was made (version {document.CurrentVersion}, request based on {request.BasedOnVersion}); reject it.");
            }
            if (request.Type == ApprovalType.Delete && document.LegalHold)
            {
                return ApiProblem.Conflict("document.legal_hold", "The document is on legal hold and cannot be deleted.");
            }
            if (!await ApprovalRequests.DecideAsync(c, tx, me.TenantId, request.Id, ApprovalStatus.Approved, me.UserId, comment, ct))
            {
                return Decide.NotPending();
            }
            await Outbox.EnqueueAsync(c, tx, me.TenantId, OutboxTypes.Execute, new ApprovalMessage(request.Id), ct);
            await audit.RecordAsync(c, tx, "approval.approved", "approval", request.Id, new { Type = request.Type.Db(), request.DocumentId, comment }, ct: ct);
            await Notify.RequesterAsync(c, tx, me.TenantId, request, "approval.approved",
                $"Your {request.Type.Verb()} request for {Notify.Document} was approved", comment ?? "It will be carried out shortly.", ct);
            return null;
        }, ct);
    }
}
