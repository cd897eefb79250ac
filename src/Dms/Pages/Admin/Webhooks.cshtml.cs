using Dms.Modules.Webhooks;
using Dms.Modules.Webhooks.Manage;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>
/// Webhook endpoints (register, change, turn on and off, resume, test, rotate the secret, delete) and each one's delivery
/// log with replay of dead deliveries: the API's webhook handlers, audited. A new secret is shown on the answer to the
/// post that made it, once, and never stored anywhere else on the way.
/// </summary>
internal sealed class WebhooksModel(ListWebhooksHandler list, ListDeliveriesHandler deliveries) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Id { get; set; }

    public List<WebhookResponse> Webhooks { get; private set; } = [];
    public WebhookResponse? Current { get; private set; }
    public List<DeliveryResponse> Deliveries { get; private set; } = [];

    /// <summary>Set only on the answer to a create or a rotation: the one time the secret is shown.</summary>
    public string? NewSecret { get; private set; }

    public static IReadOnlyList<string> EventTypes => WebhookEventTypes.All;

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Webhooks = [.. await list.HandleAsync(new ListWebhooks(), Me, ct)];
        Current = Webhooks.FirstOrDefault(w => w.Id.ToString() == Id) ?? Webhooks.FirstOrDefault();
        if (Current is not null)
        {
            Deliveries = [.. await deliveries.HandleAsync(new ListDeliveries(Current.Id, null, 50), Me, ct)];
        }
        return Page();
    }

    public Task<IActionResult> OnPostCreateAsync(string? url, string? description, List<string>? events, [FromServices] CreateWebhookHandler create, CancellationToken ct) =>
        Attempt(async () =>
        {
            var created = await create.HandleAsync(new CreateWebhook(url, events ?? [], description, true), Me, ct);
            Id = created.Id.ToString();
            NewSecret = created.Secret;
            return await OnGetAsync(ct);
        }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostEditAsync(string? url, string? description, List<string>? events, [FromServices] UpdateWebhookHandler update, CancellationToken ct) =>
        Attempt(async () =>
        {
            var updated = await update.HandleAsync(new UpdateWebhook(RouteIds.Parse(Id ?? ""), url, events ?? [], description ?? "", null), Me, ct);
            return Done("Webhook saved.", $"/admin/webhooks?id={updated.Id}");
        }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostEnableAsync(bool enabled, [FromServices] UpdateWebhookHandler update, CancellationToken ct) => Attempt(async () =>
    {
        var updated = await update.HandleAsync(new UpdateWebhook(RouteIds.Parse(Id ?? ""), null, null, null, enabled), Me, ct);
        return Done(enabled ? "Webhook turned on: waiting deliveries are sent now." : "Webhook turned off: no new events are queued for it.", $"/admin/webhooks?id={updated.Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostTestAsync([FromServices] SendTestEventHandler test, CancellationToken ct) => Attempt(async () =>
    {
        await test.HandleAsync(new SendTestEvent(RouteIds.Parse(Id ?? "")), Me, ct);
        return Done("Test event queued: it appears in the delivery log below within seconds.", $"/admin/webhooks?id={Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostRotateAsync([FromServices] RotateWebhookSecretHandler rotate, CancellationToken ct) => Attempt(async () =>
    {
        var rotated = await rotate.HandleAsync(new RotateWebhookSecret(RouteIds.Parse(Id ?? "")), Me, ct);
        NewSecret = rotated.Secret;
        return await OnGetAsync(ct);
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostReplayAsync(string? deliveryId, [FromServices] ReplayDeliveryHandler replay, CancellationToken ct) => Attempt(async () =>
    {
        await replay.HandleAsync(new ReplayDelivery(RouteIds.Parse(Id ?? ""), RouteIds.Parse(deliveryId ?? "", "deliveryId")), Me, ct);
        return Done("Delivery queued again.", $"/admin/webhooks?id={Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostDeleteAsync([FromServices] DeleteWebhookHandler delete, CancellationToken ct) => Attempt(async () =>
    {
        var deleted = await delete.HandleAsync(new DeleteWebhook(RouteIds.Parse(Id ?? "")), Me, ct);
        return Done($"Webhook to {deleted.Url} deleted.", "/admin/webhooks");
    }, () => OnGetAsync(ct));

    /// <summary>An event type in words.</summary>
    public static string EventName(string type) => type switch
    {
        WebhookEventTypes.DocumentCreated => "Document created",
        WebhookEventTypes.DocumentUpdated => "Document details changed",
        WebhookEventTypes.DocumentDeleted => "Document deleted",
        WebhookEventTypes.DocumentRestored => "Document restored",
        WebhookEventTypes.VersionAdded => "New version added",
        WebhookEventTypes.ApprovalRequested => "Approval requested",
        WebhookEventTypes.ApprovalDecided => "Approval decided",
        WebhookEventTypes.ApprovalExecuted => "Approved change carried out",
        WebhookEventTypes.ApprovalFailed => "Approved change could not be carried out",
        WebhookEventTypes.UserCreated => "User created",
        WebhookEventTypes.UserDisabled => "User disabled",
        WebhookEventTypes.Test => "Test event",
        _ => type,
    };

    public static (string Text, string Css) StateOf(WebhookResponse w) => w.State switch
    {
        "paused" => ("Paused after repeated failures", "bad"),
        "disabled" => ("Turned off", ""),
        _ => ("Receiving events", "ok"),
    };

    public static (string Text, string Css) DeliveryState(DeliveryResponse d) => d.Status switch
    {
        "delivered" => ("Delivered", "ok"),
        "sending" => ("Sending", ""),
        "dead" => ("Failed every attempt", "bad"),
        _ => (d.Attempts == 0 ? "Queued" : "Waiting to retry", "warn"),
    };
}
