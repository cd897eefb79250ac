using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Approvals.Retention;

internal sealed record TrashItem(Guid Id, string Title, Guid WorkspaceId, DateTime DeletedAt, Guid? DeletedBy, DateTime PurgeAfter, bool LegalHold);

internal sealed record LegalHoldBody(bool? Enabled, string? Reason);

/// <summary>
/// Admins only: <c>GET /trash</c> (deleted documents still restorable), <c>POST /documents/{id}/restore</c>,
/// and <c>PUT /documents/{id}/legal-hold</c>, which blocks delete requests and purge while it is on.
/// </summary>
internal static class RetentionEndpoints
{
    public static async Task<IResult> Trash(HttpContext http, int? limit, string? cursor, Db db, IOptions<DmsOptions> options, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var take = KeysetCursor.Limit(limit);
        var after = KeysetCursor.Decode(cursor);
        var retention = options.Value.Retention.DeletedDocuments;
        var rows = (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<TrashItem>(new CommandDefinition("""
            SELECT id, title, workspace_id, deleted_at, deleted_by, deleted_at + @retention AS purge_after, legal_hold
            FROM documents
            WHERE tenant_id = @tenant AND status = 'Deleted'
              AND (@afterAt::timestamptz IS NULL OR (deleted_at, id) < (@afterAt, @afterId))
            ORDER BY deleted_at DESC, id DESC
            LIMIT @take
            """, new { tenant = me.TenantId, retention, afterAt = after?.CreatedAt, afterId = after?.Id ?? Guid.Empty, take = take + 1 }, tx, cancellationToken: ct)), ct)).ToList();
        var items = rows.Take(take).ToList();
        var next = rows.Count > take ? new KeysetCursor(items[^1].DeletedAt, items[^1].Id).Encode() : null;
        return Results.Ok(new Page<TrashItem>(items, next));
    }

    public static async Task<IResult> Restore(HttpContext http, string id, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var document = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var status = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT status FROM documents WHERE tenant_id = @tenant AND id = @documentId FOR UPDATE",
                new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
            if (status == "Purged")
            {
                throw new ApiProblem(StatusCodes.Status410Gone, "document.purged", "The document was purged after its retention period; it cannot be restored.");
            }
            if (status != "Deleted")
            {
                throw ApiProblem.Conflict("document.not_deleted", "The document is not in the trash.");
            }
            await c.ExecuteAsync(new CommandDefinition("""
                UPDATE documents SET status = 'Active', deleted_at = NULL, deleted_by = NULL, purge_requested_at = NULL,
                                     row_version = row_version + 1, updated_at = now(), updated_by = @user
                WHERE tenant_id = @tenant AND id = @documentId
                """, new { tenant = me.TenantId, documentId, user = me.UserId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "document.restored", "document", documentId, null, ct: ct);
            return await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
        }, ct);
        http.Response.Headers.ETag = document!.ETag();
        return Results.Ok(document);
    }

    public static async Task<IResult> LegalHold(HttpContext http, string id, LegalHoldBody body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var reason = body.Reason?.Trim();
        new Validator()
            .Require(body.Enabled is not null, "enabled", "enabled (true or false) is required.")
            .Require(body.Enabled != true || !string.IsNullOrEmpty(reason), "reason", "A reason is required to place a legal hold.")
            .Require(reason is null || (reason.Length <= 2000 && !reason.Contains('\0', StringComparison.Ordinal)), "reason", "reason is at most 2000 characters.")
            .ThrowIfInvalid();
        var updated = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var held = await c.QuerySingleOrDefaultAsync<(bool LegalHold, string? LegalHoldReason)?>(new CommandDefinition("""
            UPDATE documents SET legal_hold = @enabled, legal_hold_reason = CASE WHEN @enabled THEN @reason END,
                                 row_version = row_version + 1, updated_at = now(), updated_by = @user
            WHERE tenant_id = @tenant AND id = @documentId AND status <> 'Purged'
            RETURNING legal_hold, legal_hold_reason
            """, new { enabled = body.Enabled, reason, user = me.UserId, tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
            if (held is not null)
            {
                await audit.RecordAsync(c, tx, body.Enabled == true ? "document.legal_hold_placed" : "document.legal_hold_released", "document", documentId, new { reason }, ct: ct);
            }
            return held;
        }, ct) ?? throw ApiProblem.NotFound("document");
        return Results.Ok(new { documentId, legalHold = updated.LegalHold, reason = updated.LegalHoldReason });
    }
}
