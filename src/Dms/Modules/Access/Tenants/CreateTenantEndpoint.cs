using System.Security.Cryptography;
using System.Text;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Access.Tenants;

/// <summary><c>POST /api/v1/platform/tenants</c>: for platform operators holding the platform key.</summary>
internal static class CreateTenantEndpoint
{
    public const string KeyHeader = "X-Platform-Key";

    public static async Task<IResult> Handle(HttpContext http, NewTenant body, IOptions<DmsOptions> options,
        [FromServices] CreateTenantHandler handler, CancellationToken ct)
    {
        var configured = options.Value.Platform.ApiKey;
        if (string.IsNullOrEmpty(configured))
        {
            throw new ApiProblem(StatusCodes.Status404NotFound, "platform.disabled",
                "Platform endpoints are disabled: set Dms__Platform__ApiKey to enable them.");
        }
        var given = http.Request.Headers[KeyHeader].ToString();
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(configured))))
        {
            throw new ApiProblem(StatusCodes.Status401Unauthorized, "platform.invalid_key", $"A valid {KeyHeader} header is required.");
        }
        var tenant = await handler.HandleAsync(body, ct);
        return Results.Created($"/api/v1/platform/tenants/{tenant.Id}", tenant);
    }
}
