using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>An admin other than the requester says no, with a reason the requester is told.</summary>
internal sealed record Reject(Guid ApprovalId, string? Reason);

internal sealed class RejectHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<Reject, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(Reject command, CurrentUser me, CancellationToken ct)
    {
        var reason = Decide.Reason(command.Reason);
        return Decide.OnPendingAsync(db, audit, clock, me, command.ApprovalId, selfAllowed: false, async (c, tx, request) =>
            await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Rejected, me.UserId, reason, ct) ? null : Decide.NotPending(), ct);
    }
}
