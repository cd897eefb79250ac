using Dms.Modules.Documents;
using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Download;

/// <summary>
/// <c>GET /api/v1/documents/{id}/content[?version=N][&amp;redirect=false]</c>. The caller is authorised and
/// the download recorded first; then the answer is a 302 to a short-lived URL that serves the bytes
/// straight from storage (S3 presigned GET, or the API's signed URL for the FileSystem provider), so bulk
/// bytes stay off the API path. <c>redirect=false</c> streams through the API instead, with Range support.
/// </summary>
internal static class DownloadEndpoint
{
    private sealed record VersionRow(int Number, string BlobKey, long Size, string ContentType, string FileName, string Sha256, DateTime CreatedAt);

    public static Task<IResult> Handle(HttpContext http, string id, int? version, bool? redirect, Db db, IBlobStore blobs,
        IOptions<DmsOptions> options, TimeProvider clock, AuditTrail audit, CancellationToken ct) =>
        HandleAsync(http, id, version, redirect, "document.downloaded", db, blobs, options, clock, audit, ct);

    /// <summary>
    /// The download, recorded as <paramref name="auditAction"/> (<c>document.viewed</c> for the UI's preview), or not
    /// recorded at all when null (a preview's range request continuing a view already recorded).
    /// </summary>
    internal static async Task<IResult> HandleAsync(HttpContext http, string id, int? version, bool? redirect, string? auditAction, Db db, IBlobStore blobs,
        IOptions<DmsOptions> options, TimeProvider clock, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        if (version is <= 0)
        {
            throw ApiProblem.Validation("version", "version must be a positive number.");
        }
        var row = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Read, ct);
            var current = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(
                "SELECT current_version FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ('Deleted', 'Purged')",
                new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
            var found = await c.QuerySingleOrDefaultAsync<VersionRow>(new CommandDefinition("""
                SELECT number, blob_key, size, content_type, file_name, sha256, created_at FROM document_versions
                WHERE tenant_id = @tenant AND document_id = @documentId AND number = @number
                """, new { tenant = me.TenantId, documentId, number = version ?? current }, tx, cancellationToken: ct))
                ?? throw ApiProblem.NotFound("version");
            if (auditAction is not null)
            {
                await audit.RecordAsync(c, tx, auditAction, "document", documentId,
                    new { version = found.Number, mode = redirect == false ? "stream" : "redirect" }, ct: ct);
            }
            return found;
        }, ct);

        return await BlobResponses.DownloadAsync(http, blobs, options.Value, clock, row.BlobKey, row.Size,
            new BlobDownloadInfo(row.FileName, row.ContentType, row.Sha256), row.CreatedAt, redirect, ct);
    }
}
