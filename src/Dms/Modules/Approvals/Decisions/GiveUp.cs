using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>An admin gives up an approved request whose execution message died.</summary>
internal sealed record GiveUp(Guid ApprovalId);

/// <summary>
/// An approved request whose execution message died (storage was gone for every attempt) would otherwise stay Approved
/// and its document PendingDelete/PendingReplace forever. Giving up ends it Failed, returns the document to Active,
/// discards a staged replacement through the outbox, audits it and tells the requester, all in one transaction that
/// also settles the dead message. While the execution is still pending or running there is nothing to give up (409):
/// replay or wait.
/// </summary>
internal sealed class GiveUpHandler(Db db, AuditTrail audit) : IHandler<GiveUp, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(GiveUp command, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var approvalId = command.ApprovalId;
            var request = await ApprovalRequests.GetAsync(c, tx, me.TenantId, approvalId, forUpdate: true, ct) ?? throw ApprovalRequests.NotFound();
            if (request.Status != ApprovalStatus.Approved)
            {
                throw ApiProblem.Conflict("approval.not_approved", $"The request is {request.Status}: only an approved request whose execution died can be given up.");
            }
            var (settled, lastError) = await Outbox.SettleDeadAsync(c, tx, me.TenantId, OutboxTypes.Execute, "approvalId", approvalId.ToString(), ct);
            if (!settled)
            {
                throw ApiProblem.Conflict("approval.executing", "The request is still being carried out (its execution has not died): wait, or replay it once it has.");
            }
            var failure = $"Given up by an admin after execution failed: {lastError ?? "unknown error"}";
            await ApprovalRequests.FinishAsync(c, tx, me.TenantId, approvalId, ApprovalStatus.Failed, failure, ct);
            await ApprovalRequests.ReleaseDocumentAsync(c, tx, me.TenantId, request.DocumentId, ct);
            await ApprovalRequests.DiscardStagedAsync(c, tx, me.TenantId, request, ct);
            await audit.RecordAsync(c, tx, "approval.given_up", "approval", request.Id, new { Type = request.Type.Db(), request.DocumentId, failure }, ct: ct);
            await Notify.RequesterAsync(c, tx, me.TenantId, request, "approval.failed", $"Your approved {request.Type.Verb()} request for {Notify.Document} could not be carried out",
                "It failed repeatedly and an admin gave up on it; the document is unchanged. Request it again if it is still needed.", ct);
            return (await ApprovalRequests.GetAsync(c, tx, me.TenantId, approvalId, forUpdate: false, ct))!.ToResponse();
        }, ct);
}
