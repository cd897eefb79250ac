using Dms.Modules.Billing.Plans;
using Dms.Platform.Database;
using Dms.Platform.UseCases;

namespace Dms.Modules.Billing;

/// <summary>
/// Plans, subscriptions and the billing provider's webhook (docs/billing.md). Other modules enforce a plan's limits
/// through <see cref="TenantPlans"/>, in their own transactions.
/// </summary>
internal static class BillingModule
{
    public static IServiceCollection AddBilling(this IServiceCollection services, bool runBackgroundWork)
    {
        DbEnums.Register<SubscriptionStatus>();
        services.AddSingleton<PlanCatalogue>();
        services.AddHandlersFrom(typeof(BillingModule).Namespace!);
        _ = runBackgroundWork;
        return services;
    }

    public static IEndpointRouteBuilder MapBilling(this IEndpointRouteBuilder app)
    {
        var platform = app.MapGroup("/api/v1/platform").WithTags("Platform").AllowAnonymous();
        platform.MapPost("/plans", PlanEndpoints.Create).Produces<PlanResponse>(201).WithSummary("Define a plan: seats, storage, largest file, feature switches (platform key)");
        platform.MapGet("/plans", PlanEndpoints.List).Produces<Platform.Http.ItemsResponse<PlanResponse>>(200).WithSummary("List the plans (platform key)");
        platform.MapPut("/tenants/{slug}/plan", PlanEndpoints.Assign).Produces<SubscriptionResponse>(200).WithSummary("Give a tenant a plan; a first plan starts its trial (platform key)");
        return app;
    }
}
