using Dms.Modules.Documents;
using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Approvals.Queries;

/// <summary>
/// <c>GET /approvals</c> (admins: the tenant's queue; others: their own requests), <c>GET /approvals/{id}</c>,
/// and <c>GET /documents/{id}/approvals</c>: a document's history, kept after it is deleted and purged.
/// </summary>
internal static class ApprovalQueries
{
    public static async Task<IResult> List(HttpContext http, string? status, string? type, int? limit, string? cursor, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var canonicalStatus = status is null ? null : ApprovalStatus.All.FirstOrDefault(s => s.Equals(status, StringComparison.OrdinalIgnoreCase));
        var canonicalType = type is null ? null : ApprovalType.All.FirstOrDefault(t => t.Equals(type, StringComparison.OrdinalIgnoreCase));
        new Validator()
            .Require(status is null || canonicalStatus is not null, "status", $"status is one of {string.Join(", ", ApprovalStatus.All)}.")
            .Require(type is null || canonicalType is not null, "type", $"type is one of {string.Join(", ", ApprovalType.All)}.")
            .ThrowIfInvalid();
        var take = KeysetCursor.Limit(limit);
        var after = KeysetCursor.Decode(cursor);
        var rows = (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<ApprovalRow>(new CommandDefinition($"""
            SELECT {ApprovalRequests.Columns} FROM approval_requests
            WHERE tenant_id = @tenant
              AND (@admin OR requested_by = @user)
              AND (@status::text IS NULL OR status = @status)
              AND (@type::text IS NULL OR type = @type)
              AND (@afterAt::timestamptz IS NULL OR (created_at, id) < (@afterAt, @afterId))
            ORDER BY created_at DESC, id DESC
            LIMIT @take
            """,
            new
            {
                tenant = me.TenantId,
                admin = me.IsAdmin,
                user = me.UserId,
                status = canonicalStatus,
                type = canonicalType,
                afterAt = after?.CreatedAt,
                afterId = after?.Id ?? Guid.Empty,
                take = take + 1,
            }, tx, cancellationToken: ct)), ct)).ToList();
        var items = rows.Take(take).Select(r => r.ToResponse()).ToList();
        var next = rows.Count > take ? new KeysetCursor(items[^1].CreatedAt, items[^1].Id).Encode() : null;
        return Results.Ok(new Page<ApprovalResponse>(items, next));
    }

    public static async Task<IResult> Get(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var requestId = RouteIds.Parse(id);
        var request = await db.InTenantAsync(me.TenantId, (c, tx) => ApprovalRequests.GetAsync(c, tx, me.TenantId, requestId, forUpdate: false, ct), ct);
        return request is null || (!me.IsAdmin && request.RequestedBy != me.UserId)
            ? throw ApprovalRequests.NotFound()
            : Results.Ok(request.ToResponse());
    }

    public static async Task<IResult> History(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var items = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Read, ct);
            var exists = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM documents WHERE tenant_id = @tenant AND id = @documentId)",
                new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
            return exists
                ? (await c.QueryAsync<ApprovalRow>(new CommandDefinition(
                    $"SELECT {ApprovalRequests.Columns} FROM approval_requests WHERE tenant_id = @tenant AND document_id = @documentId ORDER BY created_at DESC, id DESC",
                    new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct))).Select(r => r.ToResponse()).ToList()
                : null;
        }, ct) ?? throw ApiProblem.NotFound("document");
        return Results.Ok(new { items });
    }
}
