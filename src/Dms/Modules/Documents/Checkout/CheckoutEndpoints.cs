using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Checkout;

/// <summary><c>POST/DELETE /api/v1/documents/{id}/checkout</c> and <c>POST …/checkin</c>.</summary>
internal static class CheckoutEndpoints
{
    public static IEndpointRouteBuilder MapCheckout(this RouteGroupBuilder documents)
    {
        documents.MapPost("/{id}/checkout", CheckOut).Produces<CheckoutInfo>(200).WithSummary("Check a document out (lock it while you prepare a new version)")
            .RequireAuthorization(Policies.WriteDocuments);
        documents.MapPost("/{id}/checkin", CheckIn).Produces(StatusCodes.Status204NoContent).WithSummary("Check a document in (the holder gives the lock back)")
            .RequireAuthorization(Policies.WriteDocuments);
        documents.MapDelete("/{id}/checkout", Break).Produces<CheckoutInfo>(200).WithSummary("Break someone's check-out (admins; the holder is notified)")
            .RequireAuthorization(Policies.Admin);
        return documents;
    }

    private static async Task<IResult> CheckOut(HttpContext http, string id, [FromServices] CheckOutHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new CheckOut(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    private static async Task<IResult> CheckIn(HttpContext http, string id, [FromServices] CheckInHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new CheckIn(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }

    private static async Task<IResult> Break(HttpContext http, string id, [FromServices] BreakCheckoutHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new BreakCheckout(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));
}
