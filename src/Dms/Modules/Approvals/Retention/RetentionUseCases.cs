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

/// <summary>Brings a deleted document back from the trash (not once it is purged), audited.</summary>
internal sealed record RestoreDocument(Guid DocumentId);

internal sealed class RestoreDocumentHandler(Db db, AuditTrail audit) : IHandler<RestoreDocument, DocumentResponse>
{
    public Task<DocumentResponse> HandleAsync(RestoreDocument command, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var document = await DocumentsFacade.RestoreAsync(c, tx, me.TenantId, command.DocumentId, me.UserId, ct);
            await audit.RecordAsync(c, tx, "document.restored", "document", command.DocumentId, null, ct: ct);
            return document;
        }, ct);
}

internal sealed record LegalHoldResponse(Guid DocumentId, bool LegalHold, string? Reason);

/// <summary>Places a legal hold (with a reason) or lifts it; while it is on, the document can be neither deleted nor purged.</summary>
internal sealed record SetLegalHold(Guid DocumentId, bool? Enabled, string? Reason);

internal sealed class SetLegalHoldHandler(Db db, AuditTrail audit) : IHandler<SetLegalHold, LegalHoldResponse>
{
    public async Task<LegalHoldResponse> HandleAsync(SetLegalHold command, CurrentUser me, CancellationToken ct)
    {
        var reason = command.Reason?.Trim();
        new Validator()
            .Require(command.Enabled is not null, "enabled", "enabled (true or false) is required.")
            .Require(command.Enabled != true || !string.IsNullOrEmpty(reason), "reason", "A reason is required to place a legal hold.")
            .Require(reason is null || (reason.Length <= 2000 && !reason.Contains('\0', StringComparison.Ordinal)), "reason", "reason is at most 2000 characters.")
            .ThrowIfInvalid();
        var enabled = command.Enabled!.Value;
        var held = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var state = await DocumentsFacade.SetLegalHoldAsync(c, tx, me.TenantId, command.DocumentId, enabled, reason, me.UserId, ct);
            if (state is not null)
            {
                await audit.RecordAsync(c, tx, enabled ? "document.legal_hold_placed" : "document.legal_hold_released", "document", command.DocumentId, new { reason }, ct: ct);
            }
            return state;
        }, ct) ?? throw ApiProblem.NotFound("document");
        return new LegalHoldResponse(command.DocumentId, held.LegalHold, held.Reason);
    }
}
