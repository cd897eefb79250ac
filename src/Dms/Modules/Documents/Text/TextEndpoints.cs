using System.Text;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Text;

/// <summary><c>GET /documents/{id}/text</c> (whether and how the text was read) and <c>/text/content</c> (the text itself).</summary>
internal static class TextEndpoints
{
    public static async Task<IResult> Get(HttpContext http, string id, int? version, [FromServices] GetVersionTextHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetVersionText(RouteIds.Parse(id), version), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Content(HttpContext http, string id, int? version, [FromServices] GetVersionTextContentHandler handler, CancellationToken ct)
    {
        var text = await handler.HandleAsync(new GetVersionTextContent(RouteIds.Parse(id), version), CurrentUser.From(http.User), ct);
        // Shown as text by browsers, never sniffed into HTML: the text comes from an untrusted file.
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Text(text, "text/plain; charset=utf-8", Encoding.UTF8);
    }
}
