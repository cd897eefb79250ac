using Dms.Modules.Billing.Plans;
using Dms.Modules.Billing.Subscriptions;
using Dms.Modules.Billing.Usage;
using Dms.Modules.Billing.Webhook;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Billing;

/// <summary>
/// Plans, subscriptions and the billing provider's webhook (docs/billing.md). Other modules enforce a plan's limits
/// through <see cref="TenantPlans"/>, in their own transactions; the subscription's state is enforced for every write by
/// <see cref="SubscriptionGate"/>.
/// </summary>
internal static class BillingModule
{
    public static IServiceCollection AddBilling(this IServiceCollection services, bool runBackgroundWork)
    {
        services.AddOptions<BillingOptions>().BindConfiguration(BillingOptions.Section)
            .Validate(o => o.SignatureTolerance > TimeSpan.Zero && o.GracePeriod >= TimeSpan.Zero && o.DeletionDelay >= TimeSpan.Zero
                && o.StateCacheDuration >= TimeSpan.Zero && o.TrialCheckInterval > TimeSpan.Zero && o.MaxWebhookBytes >= 1024,
                "Dms__Billing__* settings: SignatureTolerance and TrialCheckInterval > 0, GracePeriod, DeletionDelay and StateCacheDuration ≥ 0, MaxWebhookBytes ≥ 1024")
            .ValidateOnStart();
        DbEnums.Register<SubscriptionStatus>();
        DbEnums.Register<BillingEventOutcome>();
        services.AddSingleton<PlanCatalogue>();
        services.AddSingleton<SubscriptionCache>();
        services.AddSingleton<Dms.Platform.Caching.INodeCache>(sp => sp.GetRequiredService<SubscriptionCache>());
        services.AddSingleton<IWriteGate, SubscriptionGate>();
        services.AddSingleton<BillingEvents>();
        services.AddSingleton<TrialExpiry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, ApplyBillingEventHandler>());
        services.AddHandlersFrom(typeof(BillingModule).Namespace!);
        if (runBackgroundWork)
        {
            services.AddHostedService(sp => sp.GetRequiredService<TrialExpiry>());
        }
        return services;
    }

    public static IEndpointRouteBuilder MapBilling(this IEndpointRouteBuilder app)
    {
        var platform = app.MapGroup("/api/v1/platform").WithTags("Platform").AllowAnonymous();
        platform.MapPost("/plans", PlanEndpoints.Create).Produces<PlanResponse>(201).WithSummary("Define a plan: seats, storage, largest file, feature switches (platform key)");
        platform.MapGet("/plans", PlanEndpoints.List).Produces<Platform.Http.ItemsResponse<PlanResponse>>(200).WithSummary("List the plans (platform key)");
        platform.MapPut("/tenants/{slug}/plan", PlanEndpoints.Assign).Produces<SubscriptionResponse>(200).WithSummary("Give a tenant a plan; a first plan starts its trial (platform key)");
        app.MapGet("/api/v1/tenant/usage", UsageEndpoint.Get).WithTags("Billing").RequireAuthorization()
            .Produces<UsageResponse>(200).WithSummary("Seats and storage used against the plan's limits, and the subscription's state (any signed-in user)");
        app.MapPost("/api/v1/billing/webhook", BillingWebhookEndpoint.Receive).WithTags("Billing").AllowAnonymous()
            .Produces<BillingWebhookResponse>(200).WithSummary("The billing provider's events, signed with Billing-Signature (no sign-in)");
        return app;
    }
}
