using Dms.Modules.Webhooks.Delivery;
using Dms.Modules.Webhooks.Domain;
using Dms.Modules.Webhooks.Manage;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Webhooks;

/// <summary>
/// Signed webhooks for integrators (docs/webhooks.md, ADR 0023): endpoints managed by tenant admins under
/// <c>/api/v1/webhooks</c>, events published by other modules through <see cref="WebhookEvents"/> in their own
/// transactions, and a delivery worker of its own (retries, breaker, log) on worker nodes.
/// </summary>
internal static class WebhooksModule
{
    public static IServiceCollection AddWebhooks(this IServiceCollection services, bool runBackgroundWork)
    {
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section)
            .Validate(o => o.Timeout > TimeSpan.Zero && o.BreakerThreshold >= 1 && o.MaxInFlight >= 1 && o.MaxInFlightPerEndpoint >= 1
                && o.LogRetention >= TimeSpan.FromMinutes(1) && Parses(o), "Dms__Webhooks__* settings: Timeout > 0, BreakerThreshold, MaxInFlight and MaxInFlightPerEndpoint ≥ 1, LogRetention ≥ 1 minute, RetrySchedule a comma-separated list of TimeSpans (hh:mm:ss)")
            .ValidateOnStart();
        DbEnums.Register<DeliveryStatus>();
        DbEnums.Register<Circuit>();
        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton<WebhookSender>();
        services.AddHandlersFrom(typeof(WebhooksModule).Namespace!);
        if (runBackgroundWork)
        {
            services.AddHostedService<DeliveryWorker>();
        }
        return services;
    }

    private static bool Parses(WebhookOptions o)
    {
        try
        {
            return o.Delays().All(d => d >= TimeSpan.Zero);
        }
        catch (FormatException)
        {
            return false;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    public static IEndpointRouteBuilder MapWebhooks(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/webhooks").WithTags("Webhooks").RequireAuthorization(Policies.Admin);
        group.MapPost("", WebhookEndpoints.Create).Produces<WebhookWithSecret>(201).WithSummary("Register a webhook endpoint (admins; the answer shows its secret, once)");
        group.MapGet("", WebhookEndpoints.List).Produces<IReadOnlyList<WebhookResponse>>(200).WithSummary("List the webhook endpoints (admins)");
        group.MapGet("/{id}", WebhookEndpoints.Get).Produces<WebhookResponse>(200).WithSummary("Get a webhook endpoint (admins)");
        group.MapPatch("/{id}", WebhookEndpoints.Update).Produces<WebhookResponse>(200).WithSummary("Change a webhook endpoint; enabled=true also resumes a paused one (admins)");
        group.MapDelete("/{id}", WebhookEndpoints.Delete).Produces(StatusCodes.Status204NoContent).WithSummary("Delete a webhook endpoint and its deliveries (admins)");
        group.MapPost("/{id}/rotate-secret", WebhookEndpoints.Rotate).Produces<WebhookWithSecret>(200).WithSummary("Rotate the signing secret; the old one keeps signing for the overlap period (admins)");
        group.MapPost("/{id}/test", WebhookEndpoints.Test).Produces<DeliveryResponse>(202).WithSummary("Send a test event to the endpoint (admins)");
        group.MapGet("/{id}/deliveries", WebhookEndpoints.Deliveries).Produces<IReadOnlyList<DeliveryResponse>>(200).WithSummary("The endpoint's deliveries with their attempt log, newest first (admins)");
        group.MapPost("/{id}/deliveries/{deliveryId}/replay", WebhookEndpoints.Replay).Produces<DeliveryResponse>(202).WithSummary("Replay a dead delivery (admins)");
        return app;
    }
}
