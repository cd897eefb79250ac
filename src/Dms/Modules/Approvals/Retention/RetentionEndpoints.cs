using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Approvals.Retention;

internal sealed record LegalHoldBody(bool? Enabled, string? Reason);

/// <summary>
/// Admins only: <c>GET /trash</c> (deleted documents still restorable), <c>POST /documents/{id}/restore</c>,
/// and <c>PUT /documents/{id}/legal-hold</c>, which blocks delete requests and purge while it is on.
/// </summary>
internal static class RetentionEndpoints
{
    public static async Task<IResult> Trash(HttpContext http, int? limit, string? cursor, [FromServices] ListTrashHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ListTrash(limit, cursor), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Restore(HttpContext http, string id, [FromServices] RestoreDocumentHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var document = await handler.HandleAsync(new RestoreDocument(RouteIds.Parse(id)), me, ct);
        http.Response.Headers.ETag = document.ETag();
        return Results.Ok(document);
    }

    public static async Task<IResult> LegalHold(HttpContext http, string id, LegalHoldBody body, [FromServices] SetLegalHoldHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        return Results.Ok(await handler.HandleAsync(new SetLegalHold(RouteIds.Parse(id), body.Enabled, body.Reason), me, ct));
    }
}
