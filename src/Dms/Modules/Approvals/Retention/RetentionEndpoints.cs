using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Approvals.Retention;

internal sealed record LegalHoldBody(bool? Enabled, string? Reason);

internal sealed record RestoreBody(string? Reason);

/// <summary>
/// Admins only: <c>GET /trash</c> (deleted documents still restorable), <c>POST /documents/{id}/restore</c>,
/// and <c>PUT /documents/{id}/legal-hold</c>, which blocks delete requests and purge while it is on.
/// </summary>
internal static class RetentionEndpoints
{
    public static async Task<IResult> Trash(HttpContext http, int? limit, string? cursor, [FromServices] ListTrashHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ListTrash(limit, cursor), CurrentUser.From(http.User), ct));

    /// <summary>200 with the document when done at once; 202 with the request where the workspace's policy governs restores.</summary>
    public static async Task<IResult> Restore(HttpContext http, string id, RestoreBody? body, [FromServices] RestoreDocumentHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var outcome = await handler.HandleAsync(new RestoreDocument(RouteIds.Parse(id), body?.Reason), me, ct);
        if (outcome.Request is { } request)
        {
            return Results.Accepted($"/api/v1/approvals/{request.Id}", request);
        }
        http.Response.Headers.ETag = outcome.Done!.ETag();
        return Results.Ok(outcome.Done);
    }

    /// <summary>200 with the hold's state when done at once; 202 with the request where the policy governs lifting it.</summary>
    public static async Task<IResult> LegalHold(HttpContext http, string id, LegalHoldBody body, [FromServices] SetLegalHoldHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var outcome = await handler.HandleAsync(new SetLegalHold(RouteIds.Parse(id), body.Enabled, body.Reason), me, ct);
        return outcome.Request is { } request ? Results.Accepted($"/api/v1/approvals/{request.Id}", request) : Results.Ok(outcome.Done);
    }
}
