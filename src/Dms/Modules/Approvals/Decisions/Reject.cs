using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>
/// An approver of the current stage (or their delegate) says no, with a reason the requester is told. One rejection at
/// any stage ends the request.
/// </summary>
internal sealed record Reject(Guid ApprovalId, string? Reason, Guid? OnBehalfOf = null);

internal sealed class RejectHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<Reject, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(Reject command, CurrentUser me, CancellationToken ct)
    {
        var reason = Decide.Reason(command.Reason);
        return Decide.OnPendingAsync(db, audit, clock, me, command.ApprovalId, selfAllowed: false, async (c, tx, request) =>
        {
            var voter = await Ballots.VoterAsync(c, tx, me, request, command.OnBehalfOf, clock.GetUtcNow().UtcDateTime, ct);
            if (!await Ballots.CastAsync(c, tx, me.TenantId, request, voter, me.UserId, approve: false, reason, ct))
            {
                return ApiProblem.Conflict("approval.already_voted", "You already voted on this request.");
            }
            await audit.RecordAsync(c, tx, "approval.vote", "approval", request.Id,
                new { decision = "Reject", stage = request.Stage, onBehalfOf = voter.UserId == me.UserId ? (Guid?)null : voter.UserId, voter.Escalation, reason }, ct: ct);
            return await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Rejected, me.UserId, reason, ct) ? null : Decide.NotPending();
        }, ct);
    }
}
