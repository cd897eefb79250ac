using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>
/// What every decision on a pending request (approve, reject, cancel) has in common. Each is one transaction that
/// locks the request row and changes it only if it is still Pending, so of any number of concurrent decisions
/// exactly one wins and the rest get <c>409 approval.not_pending</c>.
/// </summary>
internal static class Decide
{
    public const int MaxText = 2000;

    /// <summary>Locks and checks the request, runs <paramref name="decide"/>, and answers with the request as it now is.</summary>
    public static async Task<ApprovalResponse> OnPendingAsync(Db db, AuditTrail audit, TimeProvider clock, CurrentUser me, Guid requestId, bool selfAllowed,
        Func<NpgsqlConnection, NpgsqlTransaction, ApprovalRow, Task<ApiProblem?>> decide, CancellationToken ct)
    {
        // A problem found after the transaction changed something (an expiry) is thrown once it has committed.
        var (problem, result) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var request = await ApprovalRequests.GetAsync(c, tx, me.TenantId, requestId, forUpdate: true, ct);
            var now = clock.GetUtcNow().UtcDateTime;
            if (request is null || !await Ballots.CanSeeAsync(c, tx, me, request, now, ct))
            {
                throw ApprovalRequests.NotFound();
            }
            if (!selfAllowed && request.RequestedBy == me.UserId)
            {
                throw ApiProblem.Forbidden("approval.self_decision", "Nobody decides their own request: another approver has to.");
            }
            if (request.Status != ApprovalStatus.Pending)
            {
                throw NotPending(request.Status);
            }
            if (request.ExpiresAt <= now)
            {
                await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Expired, null, null, ct);
                return ((ApiProblem?)ApiProblem.Conflict("approval.expired", "The request expired before it was decided."), (ApprovalResponse?)null);
            }
            var failure = await decide(c, tx, request);
            if (failure is not null)
            {
                throw failure; // nothing of this decision is committed
            }
            var decided = (await ApprovalRequests.GetAsync(c, tx, me.TenantId, requestId, forUpdate: false, ct))!;
            return ((ApiProblem?)null, (ApprovalResponse?)await Ballots.DetailsAsync(c, tx, me.TenantId, decided, ct));
        }, ct);
        return problem is not null ? throw problem : result!;
    }

    /// <summary>An optional comment, trimmed; 400 when it is too long or holds control characters.</summary>
    public static string? Comment(string? comment)
    {
        var trimmed = comment?.Trim();
        new Validator().Require(IsValidText(trimmed), "comment", $"comment is at most {MaxText} characters.").ThrowIfInvalid();
        return trimmed;
    }

    /// <summary>A required reason to reject, trimmed; 400 when it is missing, too long or holds control characters.</summary>
    public static string Reason(string? reason)
    {
        var trimmed = reason?.Trim();
        new Validator()
            .Require(!string.IsNullOrEmpty(trimmed), "reason", "A reason is required to reject.")
            .Require(IsValidText(trimmed), "reason", $"reason is at most {MaxText} characters.")
            .ThrowIfInvalid();
        return trimmed!;
    }

    private static bool IsValidText(string? text) =>
        text is null || (text.Length <= MaxText && !text.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\r' or '\t')));

    public static ApiProblem NotPending(ApprovalStatus? status = null) =>
        ApiProblem.Conflict("approval.not_pending", status is null ? "The request is no longer pending." : $"The request is {status}, not {ApprovalStatus.Pending}.");
}
