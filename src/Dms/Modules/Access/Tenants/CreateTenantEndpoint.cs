using Dms.Platform.Configuration;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Access.Tenants;

/// <summary><c>POST /api/v1/platform/tenants</c>: for platform operators holding the platform key.</summary>
internal static class CreateTenantEndpoint
{
    public static async Task<IResult> Handle(HttpContext http, NewTenant body, IOptions<DmsOptions> options,
        [FromServices] CreateTenantHandler handler, CancellationToken ct)
    {
        PlatformKey.Require(http, options.Value);
        var tenant = await handler.HandleAsync(body, ct);
        return Results.Created($"/api/v1/platform/tenants/{tenant.Id}", tenant);
    }
}
