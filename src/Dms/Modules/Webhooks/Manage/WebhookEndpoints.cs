using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Webhooks.Manage;

internal sealed record WebhookBody(string? Url, List<string>? Events, string? Description, bool? Enabled);

/// <summary><c>/api/v1/webhooks…</c>: adapters over the webhook handlers (tenant admins only).</summary>
internal static class WebhookEndpoints
{
    public static async Task<IResult> Create(HttpContext http, WebhookBody? body, [FromServices] CreateWebhookHandler handler, CancellationToken ct)
    {
        var created = await handler.HandleAsync(new CreateWebhook(body?.Url, body?.Events, body?.Description, body?.Enabled), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/webhooks/{created.Id}", created);
    }

    public static async Task<IResult> List(HttpContext http, [FromServices] ListWebhooksHandler handler, CancellationToken ct) =>
        Results.Ok(new { items = await handler.HandleAsync(new ListWebhooks(), CurrentUser.From(http.User), ct) });

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetWebhookHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetWebhook(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Update(HttpContext http, string id, WebhookBody? body, [FromServices] UpdateWebhookHandler handler, CancellationToken ct)
    {
        var webhookId = RouteIds.Parse(id);
        return Results.Ok(await handler.HandleAsync(new UpdateWebhook(webhookId, body?.Url, body?.Events, body?.Description, body?.Enabled), CurrentUser.From(http.User), ct));
    }

    public static async Task<IResult> Delete(HttpContext http, string id, [FromServices] DeleteWebhookHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new DeleteWebhook(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }

    public static async Task<IResult> Rotate(HttpContext http, string id, [FromServices] RotateWebhookSecretHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new RotateWebhookSecret(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Test(HttpContext http, string id, [FromServices] SendTestEventHandler handler, CancellationToken ct) =>
        Results.Accepted(null, await handler.HandleAsync(new SendTestEvent(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Deliveries(HttpContext http, string id, string? status, int? limit, [FromServices] ListDeliveriesHandler handler, CancellationToken ct) =>
        Results.Ok(new { items = await handler.HandleAsync(new ListDeliveries(RouteIds.Parse(id), status, limit), CurrentUser.From(http.User), ct) });

    public static async Task<IResult> Replay(HttpContext http, string id, string deliveryId, [FromServices] ReplayDeliveryHandler handler, CancellationToken ct)
    {
        var webhookId = RouteIds.Parse(id);
        return Results.Accepted(null, await handler.HandleAsync(new ReplayDelivery(webhookId, RouteIds.Parse(deliveryId, "deliveryId")), CurrentUser.From(http.User), ct));
    }
}
