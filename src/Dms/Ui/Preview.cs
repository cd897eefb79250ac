using Dms.Modules.Audit;
using Dms.Modules.Documents.Download;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;

namespace Dms.Ui;

/// <summary>
/// <c>GET /ui/documents/{id}/preview[?version=N]</c>: the download handler's streamed answer (authorised and
/// audited the same way), shown inline when the browser renders the type safely by itself: PDF, PNG and JPEG
/// only. Anything else (HTML, SVG, XML, office files) stays an attachment.
/// </summary>
internal static class Preview
{
    public static Task<IResult> Handle(HttpContext http, string id, int? version, Db db, IBlobStore blobs, IOptions<DmsOptions> options,
        TimeProvider clock, AuditTrail audit, CancellationToken ct)
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
        return DownloadEndpoint.Handle(http, id, version, false, db, blobs, options, clock, audit, ct);
    }
}
