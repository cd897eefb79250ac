using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Requests;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Approvals.Retention;

internal sealed record TrashItem(Guid Id, string Title, Guid WorkspaceId, DateTime DeletedAt, Guid? DeletedBy, DateTime PurgeAfter, bool LegalHold);

/// <summary>Deleted documents still restorable, newest deletion first, with the date each will be purged.</summary>
internal sealed record ListTrash(int? Limit, string? Cursor);

internal sealed class ListTrashHandler(Db db, IOptions<DmsOptions> options) : IHandler<ListTrash, Page<TrashItem>>
{
    public async Task<Page<TrashItem>> HandleAsync(ListTrash query, CurrentUser me, CancellationToken ct)
    {
        var take = KeysetCursor.Limit(query.Limit);
        var after = KeysetCursor.Decode(query.Cursor);
        var rows = await db.InTenantAsync(me.TenantId, (c, tx) =>
            DocumentsFacade.TrashAsync(c, tx, me.TenantId, options.Value.Retention.DeletedDocuments, after, take + 1, ct), ct);
        var items = rows.Take(take).Select(d => new TrashItem(d.Id, d.Title, d.WorkspaceId, d.DeletedAt, d.DeletedBy, d.PurgeAfter, d.LegalHold)).ToList();
        var next = rows.Count > take ? new KeysetCursor(items[^1].DeletedAt, items[^1].Id).Encode() : null;
        return new Page<TrashItem>(items, next);
    }
}

/// <summary>What a restore or a legal hold change did: done at once, or a request opened under the workspace's policy.</summary>
internal sealed record Governed<T>(T? Done, ApprovalResponse? Request) where T : class;

/// <summary>
/// Brings a deleted document back from the trash (not once it is purged), audited; where the workspace's policy
/// governs restores, opens a request instead (<paramref name="Reason"/> is its reason).
/// </summary>
internal sealed record RestoreDocument(Guid DocumentId, string? Reason = null);

internal sealed class RestoreDocumentHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options, TimeProvider clock)
    : IHandler<RestoreDocument, Governed<DocumentResponse>>
{
    public Task<Governed<DocumentResponse>> HandleAsync(RestoreDocument command, CurrentUser me, CancellationToken ct)
    {
        var reason = string.IsNullOrWhiteSpace(command.Reason) ? "Restore from the trash" : ChangeRequests.ValidReason(command.Reason);
        return db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var found = await DocumentsFacade.LockForGovernanceAsync(c, tx, me.TenantId, command.DocumentId, ct);
            if (found is { Status: DocumentStatus.Deleted })
            {
                var request = await ChangeRequests.OpenIfGovernedAsync(c, tx, audit, me, command.DocumentId, ApprovalType.Restore, found, reason, options.Value,
                    clock.GetUtcNow().UtcDateTime, ct);
                if (request is not null)
                {
                    return new Governed<DocumentResponse>(null, request);
                }
            }
            // Direct, or not in the trash: the facade answers 404/409/410 as before.
            var document = await DocumentsFacade.RestoreAsync(c, tx, me.TenantId, command.DocumentId, me.UserId, ct);
            await audit.RecordAsync(c, tx, "document.restored", "document", command.DocumentId, null, ct: ct);
            return new Governed<DocumentResponse>(document, null);
        }, ct);
    }
}

internal sealed record LegalHoldResponse(Guid DocumentId, bool LegalHold, string? Reason);

/// <summary>
/// Places a legal hold (with a reason) or lifts it; while it is on, the document can be neither deleted nor purged.
/// Placing is always at once; lifting opens a request where the workspace's policy governs it.
/// </summary>
internal sealed record SetLegalHold(Guid DocumentId, bool? Enabled, string? Reason);

internal sealed class SetLegalHoldHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options, TimeProvider clock)
    : IHandler<SetLegalHold, Governed<LegalHoldResponse>>
{
    public async Task<Governed<LegalHoldResponse>> HandleAsync(SetLegalHold command, CurrentUser me, CancellationToken ct)
    {
        var reason = command.Reason?.Trim();
        new Validator()
            .Require(command.Enabled is not null, "enabled", "enabled (true or false) is required.")
            .Require(command.Enabled != true || !string.IsNullOrEmpty(reason), "reason", "A reason is required to place a legal hold.")
            .Require(reason is null || (reason.Length <= 2000 && !reason.Contains('\0', StringComparison.Ordinal)), "reason", "reason is at most 2000 characters.")
            .ThrowIfInvalid();
        var enabled = command.Enabled!.Value;
        var (held, request) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            if (!enabled && await DocumentsFacade.LockForGovernanceAsync(c, tx, me.TenantId, command.DocumentId, ct) is { LegalHold: true } found)
            {
                var opened = await ChangeRequests.OpenIfGovernedAsync(c, tx, audit, me, command.DocumentId, ApprovalType.LegalHoldLift, found,
                    string.IsNullOrEmpty(reason) ? "Lift the legal hold" : reason, options.Value, clock.GetUtcNow().UtcDateTime, ct);
                if (opened is not null)
                {
                    return ((LegalHoldState?)null, opened);
                }
            }
            var state = await DocumentsFacade.SetLegalHoldAsync(c, tx, me.TenantId, command.DocumentId, enabled, reason, me.UserId, ct);
            if (state is not null)
            {
                await audit.RecordAsync(c, tx, enabled ? "document.legal_hold_placed" : "document.legal_hold_released", "document", command.DocumentId, new { reason }, ct: ct);
            }
            return (state ?? throw ApiProblem.NotFound("document"), (ApprovalResponse?)null);
        }, ct);
        return request is not null
            ? new Governed<LegalHoldResponse>(null, request)
            : new Governed<LegalHoldResponse>(new LegalHoldResponse(command.DocumentId, held!.LegalHold, held.Reason), null);
    }
}
