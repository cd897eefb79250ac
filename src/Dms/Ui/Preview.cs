using Dms.Modules.Documents;
using Dms.Modules.Documents.Download;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Ui;

/// <summary>
/// <c>GET /ui/documents/{id}/preview[?version=N]</c>: the download handler's streamed answer (authorised the same
/// way, but recorded as <c>document.viewed</c>, once per view), shown inline when the browser renders the type safely by itself: PDF, PNG and JPEG
/// only. Anything else (HTML, SVG, XML, office files) stays an attachment.
/// </summary>
internal static class Preview
{
    public static async Task<IResult> Handle(HttpContext http, string id, int? version, [FromServices] DownloadDocumentHandler handler, IBlobStore blobs,
        IOptions<DmsOptions> options, TimeProvider clock, CancellationToken ct)
    {
        http.Response.OnStarting(() =>
        {
            if (http.Response.StatusCode is StatusCodes.Status200OK or StatusCodes.Status206PartialContent &&
                Display.CanPreview(http.Response.ContentType ?? ""))
            {
                http.Response.Headers.ContentDisposition = "inline";
            }
            return Task.CompletedTask;
        });
        var found = await handler.HandleAsync(
            new DownloadDocument(RouteIds.Parse(id), version, Streamed: true, ContinuesAView(http.Request) ? null : "document.viewed"), CurrentUser.From(http.User), ct);
        return await BlobResponses.DownloadAsync(http, blobs, options.Value, clock, found.BlobKey, found.Size, found.Info, found.CreatedAt, redirect: false, ct);
    }

    /// <summary>
    /// A PDF viewer fetches the file in pieces once it knows its size: a range starting past byte 0 continues a
    /// view already recorded by the request that fetched the start. A request for the whole file, or for its
    /// first bytes, is a view of its own.
    /// </summary>
    internal static bool ContinuesAView(HttpRequest request) =>
        request.GetTypedHeaders().Range is { Ranges.Count: > 0 } range && range.Ranges.All(r => r.From is > 0 || (r.From is null && r.To is > 0));
}
