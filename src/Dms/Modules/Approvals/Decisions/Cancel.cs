using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>The requester withdraws their own pending request (admins reject instead).</summary>
internal sealed record Cancel(Guid ApprovalId);

internal sealed class CancelHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<Cancel, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(Cancel command, CurrentUser me, CancellationToken ct) =>
        Decide.OnPendingAsync(db, audit, clock, me, command.ApprovalId, selfAllowed: true, async (c, tx, request) =>
        {
            if (request.RequestedBy != me.UserId)
            {
                return ApiProblem.Forbidden("approval.not_requester", "Only the requester can cancel a request; admins reject it instead.");
            }
            return await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Cancelled, me.UserId, null, ct) ? null : Decide.NotPending();
        }, ct);
}
