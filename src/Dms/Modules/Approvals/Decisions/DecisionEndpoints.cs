using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Approvals.Decisions;

internal sealed record ApproveBody(string? Comment, Guid? OnBehalfOf);

internal sealed record RejectBody(string? Reason, Guid? OnBehalfOf);

/// <summary><c>POST /api/v1/approvals/{id}/approve|reject|cancel|give-up</c>: adapters over the decision handlers.</summary>
internal static partial class DecisionEndpoints
{
    public static async Task<IResult> Approve(HttpContext http, string id, ApproveBody? body, [FromServices] ApproveHandler handler, CancellationToken ct)
    {
        // The body is checked before the id, as it always was.
        var comment = Decide.Comment(body?.Comment);
        var me = CurrentUser.From(http.User);
        return Results.Ok(await handler.HandleAsync(new Approve(RouteIds.Parse(id), comment, body?.OnBehalfOf), me, ct));
    }

    public static async Task<IResult> Reject(HttpContext http, string id, RejectBody? body, [FromServices] RejectHandler handler, CancellationToken ct)
    {
        var reason = Decide.Reason(body?.Reason);
        return Results.Ok(await handler.HandleAsync(new Reject(RouteIds.Parse(id), reason, body?.OnBehalfOf), CurrentUser.From(http.User), ct));
    }

    public static async Task<IResult> Cancel(HttpContext http, string id, [FromServices] CancelHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        return Results.Ok(await handler.HandleAsync(new Cancel(RouteIds.Parse(id)), me, ct));
    }

    public static async Task<IResult> GiveUp(HttpContext http, string id, [FromServices] GiveUpHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        return Results.Ok(await handler.HandleAsync(new GiveUp(RouteIds.Parse(id)), me, ct));
    }
}
