using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Approvals.Queries;

/// <summary>
/// <c>GET /approvals</c>, <c>GET /approvals/{id}</c>, <c>GET /documents/{id}/approvals</c> (a document's history), and
/// <c>GET /approvals/{id}/content[?redirect=false]</c> (a replace request's proposed file, served like a document
/// download: a 302 to a short-lived attachment URL, or streamed).
/// </summary>
internal static partial class ApprovalQueries
{
    public static async Task<IResult> List(HttpContext http, string? status, string? type, int? limit, string? cursor, bool? awaitingMe, [FromServices] ListApprovalsHandler handler,
        CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ListApprovals(status, type, limit, cursor, awaitingMe ?? false), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetApprovalHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        return Results.Ok(await handler.HandleAsync(new GetApproval(RouteIds.Parse(id)), me, ct));
    }

    public static async Task<IResult> History(HttpContext http, string id, [FromServices] ApprovalHistoryHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var items = await handler.HandleAsync(new ApprovalHistory(RouteIds.Parse(id)), me, ct);
        return Results.Ok(new { items });
    }
}

internal static class ApprovalContentEndpoint
{
    public static async Task<IResult> Handle(HttpContext http, string id, bool? redirect, [FromServices] ApprovalContentHandler handler, IBlobStore blobs,
        IOptions<DmsOptions> options, TimeProvider clock, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var file = await handler.HandleAsync(new ApprovalContent(RouteIds.Parse(id), Streamed: redirect == false), me, ct);
        return await BlobResponses.DownloadAsync(http, blobs, options.Value, clock, file.BlobKey, file.Size, file.Info, file.CreatedAt, redirect, ct);
    }
}
