using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.Net.Http.Headers;

namespace Dms.Modules.Documents.Download;

/// <summary>
/// <c>GET /api/v1/documents/{id}/content[?version=N]</c>: streams the file as an attachment with its
/// SHA-256 as a strong ETag; Range, If-Range and If-None-Match are honoured (206/304).
/// </summary>
internal static class DownloadEndpoint
{
    private sealed record VersionRow(string BlobKey, string ContentType, string FileName, string Sha256, DateTime CreatedAt);

    public static async Task<IResult> Handle(HttpContext http, string id, int? version, Db db, IBlobStore blobs, ILoggerFactory loggers, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        if (version is <= 0)
        {
            throw ApiProblem.Validation("version", "version must be a positive number.");
        }
        var row = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var current = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(
                "SELECT current_version FROM documents WHERE tenant_id = @tenant AND id = @documentId",
                new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
            return await c.QuerySingleOrDefaultAsync<VersionRow>(new CommandDefinition("""
                SELECT blob_key, content_type, file_name, sha256, created_at FROM document_versions
                WHERE tenant_id = @tenant AND document_id = @documentId AND number = @number
                """, new { tenant = me.TenantId, documentId, number = version ?? current }, tx, cancellationToken: ct))
                ?? throw ApiProblem.NotFound("version");
        }, ct);

        var stream = await blobs.OpenReadAsync(row.BlobKey, ct);
        if (stream is null)
        {
            loggers.CreateLogger("Dms.Documents.Download").LogError("Blob {BlobKey} of document {DocumentId} is missing from storage", row.BlobKey, documentId);
            throw new ApiProblem(StatusCodes.Status503ServiceUnavailable, "storage.blob_missing",
                "The file is temporarily unavailable from storage; try again later or tell an administrator.");
        }
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Stream(stream, row.ContentType, row.FileName, new DateTimeOffset(row.CreatedAt, TimeSpan.Zero),
            new EntityTagHeaderValue($"\"{row.Sha256}\""), enableRangeProcessing: true);
    }
}
