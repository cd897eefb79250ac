using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Approvals.Decisions;

internal sealed record ApproveBody(string? Comment);

internal sealed record RejectBody(string? Reason);

/// <summary>
/// <c>POST /approvals/{id}/approve|reject|cancel</c>. Each decision is one transaction that locks the request
/// row and changes it only if it is still Pending, so of any number of concurrent decisions exactly one
/// wins and the rest get <c>409 approval.not_pending</c>. Approving writes the execution message in the same
/// transaction: the decision and its effect cannot come apart.
/// </summary>
internal static class DecisionEndpoints
{
    private const int MaxText = 2000;

    public static Task<IResult> Approve(HttpContext http, string id, ApproveBody? body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var comment = body?.Comment?.Trim();
        new Validator().Require(IsValidText(comment), "comment", $"comment is at most {MaxText} characters.").ThrowIfInvalid();
        return DecideAsync(http, id, db, audit, selfAllowed: false, async (c, tx, me, request) =>
        {
            var document = await c.QuerySingleAsync<(int CurrentVersion, bool LegalHold)>(new CommandDefinition(
                "SELECT current_version, legal_hold FROM documents WHERE tenant_id = @tenant AND id = @id FOR UPDATE",
                new { tenant = me.TenantId, id = request.DocumentId }, tx, cancellationToken: ct));
            if (document.CurrentVersion != request.BasedOnVersion)
            {
                return ApiProblem.Conflict("approval.stale",
                    $"The document changed since the request was made (version {document.CurrentVersion}, request based on {request.BasedOnVersion}); reject it.");
            }
            if (request.Type == ApprovalType.Delete && document.LegalHold)
            {
                return ApiProblem.Conflict("document.legal_hold", "The document is on legal hold and cannot be deleted.");
            }
            var approved = await c.ExecuteAsync(new CommandDefinition("""
                UPDATE approval_requests SET status = 'Approved', decided_by = @user, decided_at = now(), decision_comment = @comment
                WHERE tenant_id = @tenant AND id = @id AND status = 'Pending'
                """, new { user = me.UserId, comment, tenant = me.TenantId, id = request.Id }, tx, cancellationToken: ct));
            if (approved == 0)
            {
                return NotPending();
            }
            await Outbox.EnqueueAsync(c, tx, me.TenantId, OutboxTypes.Execute, new ApprovalMessage(request.Id), ct);
            await audit.RecordAsync(c, tx, "approval.approved", "approval", request.Id, new { request.Type, request.DocumentId, comment }, ct: ct);
            await Notify.RequesterAsync(c, tx, me.TenantId, request, "approval.approved",
                $"Your {request.Type.ToLowerInvariant()} request for {Notify.Document} was approved", comment ?? "It will be carried out shortly.", ct);
            return null;
        }, ct);
    }

    public static Task<IResult> Reject(HttpContext http, string id, RejectBody? body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var reason = body?.Reason?.Trim();
        new Validator()
            .Require(!string.IsNullOrEmpty(reason), "reason", "A reason is required to reject.")
            .Require(IsValidText(reason), "reason", $"reason is at most {MaxText} characters.")
            .ThrowIfInvalid();
        return DecideAsync(http, id, db, audit, selfAllowed: false, async (c, tx, me, request) =>
            await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Rejected, me.UserId, reason, ct) ? null : NotPending(), ct);
    }

    public static Task<IResult> Cancel(HttpContext http, string id, Db db, AuditTrail audit, CancellationToken ct) =>
        DecideAsync(http, id, db, audit, selfAllowed: true, async (c, tx, me, request) =>
        {
            if (request.RequestedBy != me.UserId)
            {
                return ApiProblem.Forbidden("approval.not_requester", "Only the requester can cancel a request; admins reject it instead.");
            }
            return await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Cancelled, me.UserId, null, ct) ? null : NotPending();
        }, ct);

    private static async Task<IResult> DecideAsync(HttpContext http, string id, Db db, AuditTrail audit, bool selfAllowed,
        Func<NpgsqlConnection, NpgsqlTransaction, CurrentUser, ApprovalRow, Task<ApiProblem?>> decide, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var requestId = RouteIds.Parse(id);
        // A problem found after the transaction changed something (an expiry) is thrown once it has committed.
        var (problem, result) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var request = await ApprovalRequests.GetAsync(c, tx, me.TenantId, requestId, forUpdate: true, ct);
            if (request is null || (!me.IsAdmin && request.RequestedBy != me.UserId))
            {
                throw ApprovalRequests.NotFound();
            }
            if (!selfAllowed && request.RequestedBy == me.UserId)
            {
                throw ApiProblem.Forbidden("approval.self_decision", "Nobody decides their own request: another admin has to.");
            }
            if (!selfAllowed && !me.IsAdmin)
            {
                throw ApiProblem.Forbidden("auth.forbidden", "Only tenant admins decide requests.");
            }
            if (request.Status != ApprovalStatus.Pending)
            {
                throw NotPending(request.Status);
            }
            if (request.ExpiresAt <= DateTime.UtcNow)
            {
                await ApprovalRequests.CloseAsync(c, tx, audit, me.TenantId, request, ApprovalStatus.Expired, null, null, ct);
                return ((ApiProblem?)ApiProblem.Conflict("approval.expired", "The request expired before it was decided."), (ApprovalResponse?)null);
            }
            var failure = await decide(c, tx, me, request);
            if (failure is not null)
            {
                throw failure; // nothing of this decision is committed
            }
            return ((ApiProblem?)null, (ApprovalResponse?)(await ApprovalRequests.GetAsync(c, tx, me.TenantId, requestId, forUpdate: false, ct))!.ToResponse());
        }, ct);
        return problem is not null ? throw problem : Results.Ok(result);
    }

    private static bool IsValidText(string? text) =>
        text is null || (text.Length <= MaxText && !text.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\r' or '\t')));

    private static ApiProblem NotPending(string? status = null) =>
        ApiProblem.Conflict("approval.not_pending", status is null ? "The request is no longer pending." : $"The request is {status}, not Pending.");
}
