using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Browse;

/// <summary>Reading documents: list with filters, sorting and keyset paging, one document, its versions.</summary>
internal static class BrowseEndpoints
{
    /// <summary><c>typeId</c> and the <c>f.&lt;key&gt;</c> family (<c>f.due</c>, <c>f.due.gte</c>…) come with the other filters; other unknown names are ignored as before.</summary>
    public static async Task<IResult> List(HttpContext http, [FromServices] ListDocumentsHandler handler, string? q, string? workspaceId, string? folderId,
        string? tag, string? status, string? type, string? sort, string? order, int? limit, string? cursor, string? typeId, CancellationToken ct)
    {
        var fields = http.Request.Query.Where(p => p.Key.StartsWith("f.", StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        var query = new ListDocuments(q, workspaceId, folderId, tag, status, type, sort, order, limit, cursor, typeId, fields.Count == 0 ? null : fields);
        return Results.Ok(await handler.HandleAsync(query, CurrentUser.From(http.User), ct));
    }

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetDocumentHandler handler, CancellationToken ct)
    {
        var document = await handler.HandleAsync(new GetDocument(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        http.Response.Headers.ETag = document.ETag();
        return Results.Ok(document);
    }

    public static async Task<IResult> Versions(HttpContext http, string id, [FromServices] ListVersionsHandler handler, CancellationToken ct)
    {
        var versions = await handler.HandleAsync(new ListVersions(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.Ok(new { items = versions });
    }
}
