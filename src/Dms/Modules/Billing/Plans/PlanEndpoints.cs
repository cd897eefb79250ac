using Dms.Platform.Configuration;
using Dms.Platform.Security;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Billing.Plans;

/// <summary><c>/api/v1/platform/plans</c> and <c>/api/v1/platform/tenants/{slug}/plan</c>, with the platform key.</summary>
internal static class PlanEndpoints
{
    public static async Task<IResult> Create(HttpContext http, NewPlan body, IOptions<DmsOptions> options, PlanCatalogue plans, CancellationToken ct)
    {
        PlatformKey.Require(http, options.Value);
        var plan = await plans.CreateAsync(body, ct);
        return Results.Created($"/api/v1/platform/plans/{plan.Id}", plan);
    }

    public static async Task<IResult> List(HttpContext http, IOptions<DmsOptions> options, PlanCatalogue plans, CancellationToken ct)
    {
        PlatformKey.Require(http, options.Value);
        return Results.Ok(new Platform.Http.ItemsResponse<PlanResponse>(await plans.ListAsync(ct)));
    }

    public static async Task<IResult> Assign(HttpContext http, string slug, AssignPlan body, IOptions<DmsOptions> options, PlanCatalogue plans, CancellationToken ct)
    {
        PlatformKey.Require(http, options.Value);
        return Results.Ok(await plans.AssignAsync(slug, body, ct));
    }
}
