using Dms.Modules.Documents;
using Dms.Modules.Documents.Download;
using Dms.Modules.Documents.Previews;
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
/// <c>?rendition=preview</c> serves the version's rendered PDF preview instead (Office and text files; recorded as a view the same
/// way) and <c>?rendition=thumbnail</c> its thumbnail (not recorded), through the API's rendition handler.
/// </summary>
internal static class Preview
{
    public static async Task<IResult> Handle(HttpContext http, string id, int? version, string? rendition, [FromServices] DownloadDocumentHandler handler,
        [FromServices] GetRenditionHandler renditions, IBlobStore blobs, IOptions<DmsOptions> options, TimeProvider clock, CancellationToken ct)
    {
        switch (rendition)
        {
            case null or "":
                break;
            case "preview":
                return await RenditionEndpoints.StreamAsync(http, RouteIds.Parse(id), version, RenditionKind.Preview, !ContinuesAView(http.Request), renditions, blobs, ct);
            case "thumbnail":
                return await RenditionEndpoints.StreamAsync(http, RouteIds.Parse(id), version, RenditionKind.Thumbnail, audit: false, renditions, blobs, ct);
            default:
                throw ApiProblem.Validation("rendition", "rendition must be preview or thumbnail.");
        }
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
