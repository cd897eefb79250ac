using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Dms.Modules.Documents.Previews;

/// <summary>
/// A version's thumbnail or preview, authorised exactly like a download (read access to the workspace, a live document).
/// A preview shows the document's content, so it is recorded as <c>document.viewed</c> unless <paramref name="Audit"/> is
/// false (a range request continuing a view); a thumbnail is not recorded (the list shows dozens per page).
/// </summary>
internal sealed record GetRendition(Guid DocumentId, int? Version, RenditionKind Kind, bool Audit = true);

/// <summary>A rendition's blob and how to present it.</summary>
internal sealed record RenditionFile(string BlobKey, long Size, string ContentType, string FileName, string ETag, DateTime RenderedAt);

internal sealed class GetRenditionHandler(Db db, AuditTrail audit) : IHandler<GetRendition, RenditionFile>
{
    /// <summary>How long a client should wait before asking again for a rendition being rendered.</summary>
    public const int RetryAfterSeconds = 5;

    private sealed record VersionRow(int Number, string ContentType, string FileName);

    public async Task<RenditionFile> HandleAsync(GetRendition query, CurrentUser me, CancellationToken ct)
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
            var version = await c.QuerySingleOrDefaultAsync<VersionRow>(new CommandDefinition("""
                SELECT number, content_type, file_name FROM document_versions
                WHERE tenant_id = @tenant AND document_id = @documentId AND number = @number
                """, new { tenant = me.TenantId, query.DocumentId, number = query.Version ?? current }, tx, cancellationToken: ct))
                ?? throw ApiProblem.NotFound("version");
            if (!RenditionPlan.For(version.ContentType).Needs(query.Kind))
            {
                throw Unsupported(query.Kind, version.ContentType);
            }
            var renditions = await Renditions.ForVersionAsync(c, tx, me.TenantId, query.DocumentId, version.Number, ct);
            var found = renditions.GetValueOrDefault(query.Kind);
            switch (found)
            {
                case null or { Status: RenditionStatus.Pending }:
                    throw new ApiProblem(StatusCodes.Status409Conflict, "rendition.pending", $"The {Name(query.Kind)} is being prepared; try again shortly.")
                    {
                        Headers = new Dictionary<string, string> { ["Retry-After"] = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                    };
                case { Status: RenditionStatus.Unsupported }:
                    throw Unsupported(query.Kind, version.ContentType);
                case { Status: RenditionStatus.Failed }:
                    throw new ApiProblem(StatusCodes.Status404NotFound, "rendition.failed", $"The {Name(query.Kind)} could not be made.", found.Error);
            }
            if (query.Kind == RenditionKind.Preview && query.Audit)
            {
                await audit.RecordAsync(c, tx, "document.viewed", "document", query.DocumentId,
                    new { version = version.Number, mode = "stream", rendition = "preview" }, ct: ct);
            }
            var stem = Path.GetFileNameWithoutExtension(version.FileName);
            var fileName = query.Kind == RenditionKind.Preview ? $"{stem}.pdf" : $"{stem}-thumbnail{(found!.ContentType == "image/jpeg" ? ".jpg" : ".png")}";
            var renderedAt = found!.RenderedAt ?? DateTime.UnixEpoch;
            return new RenditionFile(found.BlobKey!, found.Size!.Value, found.ContentType!, fileName,
                $"{query.DocumentId:N}-{version.Number}-{query.Kind}-{renderedAt.Ticks}", renderedAt);
        }, ct);
    }

    private static string Name(RenditionKind kind) => kind == RenditionKind.Thumbnail ? "thumbnail" : "preview";

    private static ApiProblem Unsupported(RenditionKind kind, string contentType) => new(StatusCodes.Status404NotFound, "rendition.unsupported",
        $"There is no {Name(kind)} for this type of file.",
        kind == RenditionKind.Preview && RenditionPlan.For(contentType).Thumbnail is ThumbnailSource.Image or ThumbnailSource.Pdf
            ? "PDFs and images are shown as they are: get the content itself."
            : null);
}

/// <summary>
/// <c>GET /api/v1/documents/{id}/thumbnail[?version=N]</c> and <c>…/preview[?version=N]</c>: the rendition streamed
/// through the API (they are small), inline, <c>Cache-Control: private, no-cache</c> with an ETag (a revalidation is
/// authorised again). 409 <c>rendition.pending</c> with Retry-After while it is rendered.
/// </summary>
internal static class RenditionEndpoints
{
    public static Task<IResult> Thumbnail(HttpContext http, string id, int? version, [FromServices] GetRenditionHandler handler, IBlobStore blobs,
        CancellationToken ct) => StreamAsync(http, RouteIds.Parse(id), version, RenditionKind.Thumbnail, audit: false, handler, blobs, ct);

    public static Task<IResult> Preview(HttpContext http, string id, int? version, [FromServices] GetRenditionHandler handler, IBlobStore blobs,
        CancellationToken ct) => StreamAsync(http, RouteIds.Parse(id), version, RenditionKind.Preview, audit: !ContinuesAView(http.Request), handler, blobs, ct);

    /// <summary>Authorises (and for a preview, records) then streams the rendition; shared with the UI's preview route.</summary>
    public static async Task<IResult> StreamAsync(HttpContext http, Guid documentId, int? version, RenditionKind kind, bool audit,
        GetRenditionHandler handler, IBlobStore blobs, CancellationToken ct)
    {
        var file = await handler.HandleAsync(new GetRendition(documentId, version, kind, audit), CurrentUser.From(http.User), ct);
        http.Response.OnStarting(() =>
        {
            if (http.Response.StatusCode is StatusCodes.Status200OK or StatusCodes.Status206PartialContent)
            {
                // Our own PNG, JPEG or PDF: safe for the browser to show.
                var inline = new ContentDispositionHeaderValue("inline");
                inline.SetHttpFileName(file.FileName);
                http.Response.Headers.ContentDisposition = inline.ToString();
            }
            return Task.CompletedTask;
        });
        await BlobResponses.WriteAsync(http, blobs, file.BlobKey, file.Size, new BlobDownloadInfo(file.FileName, file.ContentType, file.ETag),
            new DateTimeOffset(file.RenderedAt, TimeSpan.Zero), ct);
        return Results.Empty;
    }

    /// <summary>A PDF viewer's range request past the first byte continues a view already recorded (as for the original's preview).</summary>
    internal static bool ContinuesAView(HttpRequest request) =>
        request.GetTypedHeaders().Range is { Ranges.Count: > 0 } range && range.Ranges.All(r => r.From is > 0 || (r.From is null && r.To is > 0));
}
