using Dms.Modules.Documents;
using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Browse;

/// <summary>Reading documents: list with filters, sorting and keyset paging, one document, its versions.</summary>
internal static class BrowseEndpoints
{
    public static async Task<IResult> List(HttpContext http, Db db, string? q, string? workspaceId, string? folderId, string? tag,
        string? status, string? type, string? sort, string? order, int? limit, string? cursor, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var v = new Validator();
        v.Require(q is null || (q.Length <= 200 && !q.Contains('\0', StringComparison.Ordinal)), "q", "q is at most 200 characters.");
        v.Require(tag is null || (tag.Length <= Tags.MaxLength && !tag.Any(char.IsControl)), "tag", $"tag is at most {Tags.MaxLength} characters.");
        var canonicalStatus = string.IsNullOrEmpty(status) ? null : ListableStatuses.Canonical(status);
        v.Require(string.IsNullOrEmpty(status) || canonicalStatus is not null, "status", "status must be Active, PendingDelete or PendingReplace.");
        v.Require(string.IsNullOrEmpty(type) || FileFamilies.Patterns.ContainsKey(type), "type", "type must be pdf, image, office or text.");
        var sortOrder = DocumentSort.Parse(sort, order, v);
        v.ThrowIfInvalid();
        var filter = new DocumentFilter(me.TenantId, q, RouteIds.ParseOptional(workspaceId, "workspaceId"), RouteIds.ParseOptional(folderId, "folderId"),
            tag, DocumentCursor.Decode(cursor, sortOrder), KeysetCursor.Limit(limit), me, canonicalStatus,
            string.IsNullOrEmpty(type) ? null : type.ToLowerInvariant(), sortOrder);
        var page = await db.InTenantAsync(me.TenantId, (c, tx) => DocumentReadModel.ListAsync(c, tx, filter, ct), ct);
        return Results.Ok(page);
    }

    public static async Task<IResult> Get(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var document = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Read, ct);
            return await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
        }, ct) ?? throw ApiProblem.NotFound("document");
        http.Response.Headers.ETag = document.ETag();
        return Results.Ok(document);
    }

    public static async Task<IResult> Versions(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var versions = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Read, ct);
            var exists = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ('Deleted', 'Purged'))",
                new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
            return exists
                ? await c.QueryAsync<VersionResponse>(new CommandDefinition("""
                    SELECT number, size, sha256, content_type, file_name, created_at, created_by FROM document_versions
                    WHERE tenant_id = @tenant AND document_id = @documentId ORDER BY number DESC
                    """, new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct))
                : null;
        }, ct) ?? throw ApiProblem.NotFound("document");
        return Results.Ok(new { items = versions });
    }
}
