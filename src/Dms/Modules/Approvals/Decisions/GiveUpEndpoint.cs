using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>
/// <c>POST /api/v1/approvals/{id}/give-up</c> (admins): an approved request whose execution message died (storage was
/// gone for every attempt) would otherwise stay Approved and its document PendingDelete/PendingReplace forever. Giving
/// up ends it Failed, returns the document to Active, discards a staged replacement through the outbox, audits it and
/// tells the requester, all in one transaction that also settles the dead message. While the execution is still
/// pending or running there is nothing to give up (409): replay or wait.
/// </summary>
internal static class GiveUpEndpoint
{
    public static async Task<IResult> Handle(HttpContext http, string id, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var approvalId = RouteIds.Parse(id);
        var response = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
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
            await c.ExecuteAsync(new CommandDefinition("""
                UPDATE approval_requests SET status = 'Failed', failure = @failure
                WHERE tenant_id = @tenant AND id = @id AND status = 'Approved'
                """, new { failure, tenant = me.TenantId, id = approvalId }, tx, cancellationToken: ct));
            await ApprovalRequests.ReleaseDocumentAsync(c, tx, me.TenantId, request.DocumentId, ct);
            if (request.Type == ApprovalType.Replace)
            {
                await Outbox.EnqueueAsync(c, tx, me.TenantId, OutboxTypes.DiscardStaged, new ApprovalMessage(request.Id), ct);
            }
            await audit.RecordAsync(c, tx, "approval.given_up", "approval", request.Id, new { request.Type, request.DocumentId, failure }, ct: ct);
            await Notify.RequesterAsync(c, tx, me.TenantId, request, "approval.failed", $"Your approved {request.Type.ToLowerInvariant()} request for {Notify.Document} could not be carried out",
                "It failed repeatedly and an admin gave up on it; the document is unchanged. Request it again if it is still needed.", ct);
            return (await ApprovalRequests.GetAsync(c, tx, me.TenantId, approvalId, forUpdate: false, ct))!.ToResponse();
        }, ct);
        return Results.Ok(response);
    }
}
