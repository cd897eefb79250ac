using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>
/// An approver of the request's current stage (or their delegate, <paramref name="OnBehalfOf"/> naming whom they stand in
/// for when several delegated to them) says yes; the change itself is carried out through the outbox.
/// </summary>
internal sealed record Approve(Guid ApprovalId, string? Comment, Guid? OnBehalfOf = null);

/// <summary>
/// A vote counts once per person and request; when it completes the stage's quorum the request moves to its next stage,
/// and when that was the last stage it is approved and the execution message is written in the same transaction: the
/// decision and its effect cannot come apart. Everything happens under the request's row lock, so of any number of
/// concurrent votes exactly the quorum counts and the request is approved once. A request whose document moved on
/// (another version) or went on legal hold is refused.
/// </summary>
internal sealed class ApproveHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<Approve, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(Approve command, CurrentUser me, CancellationToken ct)
    {
        var comment = Decide.Comment(command.Comment);
        return Decide.OnPendingAsync(db, audit, clock, me, command.ApprovalId, selfAllowed: false, async (c, tx, request) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var voter = await Ballots.VoterAsync(c, tx, me, request, command.OnBehalfOf, now, ct);
            var document = await DocumentsFacade.LockAsync(c, tx, me.TenantId, request.DocumentId, ct);
            if (request.Type is ApprovalType.Delete or ApprovalType.Replace && document.CurrentVersion != request.BasedOnVersion)
            {
                return ApiProblem.Conflict("approval.stale",
                    $"The document changed since the request was made (version {document.CurrentVersion}, request based on {request.BasedOnVersion}); reject it.");
            }
            if (request.Type == ApprovalType.Delete && document.LegalHold)
            {
                return ApiProblem.Conflict("document.legal_hold", "The document is on legal hold and cannot be deleted.");
            }
            if (!await Ballots.CastAsync(c, tx, me.TenantId, request, voter, me.UserId, approve: true, comment, ct))
            {
                return ApiProblem.Conflict("approval.already_voted", "You already voted on this request.");
            }
            var onBehalfOf = voter.UserId == me.UserId ? (Guid?)null : voter.UserId;
            await audit.RecordAsync(c, tx, "approval.vote", "approval", request.Id,
                new { decision = "Approve", stage = request.Stage, onBehalfOf, voter.Escalation, comment }, ct: ct);
            if (!await Ballots.StageDoneAsync(c, tx, me.TenantId, request, ct))
            {
                return null;
            }
            if (request.Stage + 1 < request.Snapshot.Stages.Count)
            {
                var next = await Ballots.AdvanceAsync(c, tx, me.TenantId, request, now, ct);
                await audit.RecordAsync(c, tx, "approval.stage_passed", "approval", request.Id,
                    new { stage = request.Stage, next = next.Stage, name = request.Snapshot.Stages[next.Stage].Name }, ct: ct);
                return null;
            }
            if (!await ApprovalRequests.DecideAsync(c, tx, me.TenantId, request.Id, ApprovalStatus.Approved, me.UserId, comment, ct))
            {
                return Decide.NotPending();
            }
            await Outbox.EnqueueAsync(c, tx, me.TenantId, OutboxTypes.Execute, new ApprovalMessage(request.Id), ct);
            await audit.RecordAsync(c, tx, "approval.approved", "approval", request.Id, new { Type = request.Type.Db(), request.DocumentId, comment, onBehalfOf }, ct: ct);
            await Notify.RequesterAsync(c, tx, me.TenantId, request, "approval.approved",
                $"Your {request.Type.Verb()} request for {Notify.Document} was approved", comment ?? "It will be carried out shortly.", ct);
            return null;
        }, ct);
    }
}
