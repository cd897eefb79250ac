using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Download;

/// <summary>
/// Which version of a document to download, recorded as <paramref name="AuditAction"/> (<c>document.viewed</c> for the UI's
/// preview), or not recorded at all when null (a preview's range request continuing a view already recorded).
/// <paramref name="Streamed"/> only says how the audit event names the mode.
/// </summary>
internal sealed record DownloadDocument(Guid DocumentId, int? Version, bool Streamed, string? AuditAction = "document.downloaded");

/// <summary>A version's blob and what a download of it says about it.</summary>
internal sealed record DownloadableVersion(int Number, string BlobKey, long Size, string ContentType, string FileName, string Sha256, DateTime CreatedAt)
{
    public BlobDownloadInfo Info => new(FileName, ContentType, Sha256);
}

/// <summary>Authorises a download and records it; the bytes are the adapter's business (a redirect or a stream).</summary>
internal sealed class DownloadDocumentHandler(Db db, AuditTrail audit) : IHandler<DownloadDocument, DownloadableVersion>
{
    public async Task<DownloadableVersion> HandleAsync(DownloadDocument query, CurrentUser me, CancellationToken ct)
    {
        if (query.Version is <= 0)
        {
            throw ApiProblem.Validation("version", "version must be a positive number.");
        }
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, query.DocumentId, WorkspaceAction.Read, ct);
            var current = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(
                $"SELECT current_version FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()})",
                new { tenant = me.TenantId, query.DocumentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
            var found = await c.QuerySingleOrDefaultAsync<DownloadableVersion>(new CommandDefinition("""
                SELECT number, blob_key, size, content_type, file_name, sha256, created_at FROM document_versions
                WHERE tenant_id = @tenant AND document_id = @documentId AND number = @number
                """, new { tenant = me.TenantId, query.DocumentId, number = query.Version ?? current }, tx, cancellationToken: ct))
                ?? throw ApiProblem.NotFound("version");
            if (query.AuditAction is not null)
            {
                await audit.RecordAsync(c, tx, query.AuditAction, "document", query.DocumentId,
                    new { version = found.Number, mode = query.Streamed ? "stream" : "redirect" }, ct: ct);
            }
            return found;
        }, ct);
    }
}

/// <summary>
/// <c>GET /api/v1/documents/{id}/content[?version=N][&amp;redirect=false]</c>. The caller is authorised and
/// the download recorded first; then the answer is a 302 to a short-lived URL that serves the bytes
/// straight from storage (S3 presigned GET, or the API's signed URL for the FileSystem provider), so bulk
/// bytes stay off the API path. <c>redirect=false</c> streams through the API instead, with Range support.
/// </summary>
internal static class DownloadEndpoint
{
    public static async Task<IResult> Handle(HttpContext http, string id, int? version, bool? redirect, [FromServices] DownloadDocumentHandler handler,
        IBlobStore blobs, IOptions<DmsOptions> options, TimeProvider clock, CancellationToken ct)
    {
        var found = await handler.HandleAsync(new DownloadDocument(RouteIds.Parse(id), version, Streamed: redirect == false), CurrentUser.From(http.User), ct);
        return await BlobResponses.DownloadAsync(http, blobs, options.Value, clock, found.BlobKey, found.Size, found.Info, found.CreatedAt, redirect, ct);
    }
}
