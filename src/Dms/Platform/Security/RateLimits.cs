using System.Globalization;
using System.Threading.RateLimiting;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace Dms.Platform.Security;

/// <summary>
/// In-process rate limits (per node; ASP.NET Core's limiter): sign-in attempts per client address, uploads per
/// user. A rejected request gets 429 with <c>Retry-After</c> and a problem code.
/// </summary>
internal static class RateLimits
{
    public const string Login = "login";
    public const string Uploads = "uploads";

    public static IServiceCollection AddDmsRateLimits(this IServiceCollection services)
    {
        // Limits are read when a partition is first made, from the options in force (also in test hosts).
        static SecurityOptions Settings(HttpContext http) => http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<DmsOptions>>().Value.Security;
        services.AddRateLimiter(o =>
        {
            // Only attempts count: showing the UI's sign-in form (a GET) is free.
            o.AddPolicy(Login, http => HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)
                ? RateLimitPartition.GetNoLimiter("show")
                : RateLimitPartition.GetFixedWindowLimiter(
                    http.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                    _ => Window(Settings(http).LoginRateLimit)));
            o.AddPolicy(Uploads, http => RateLimitPartition.GetFixedWindowLimiter(
                http.User.FindFirst(DmsClaims.Subject)?.Value ?? http.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => Window(Settings(http).UploadRateLimit)));
            o.OnRejected = async (context, ct) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? (int)Math.Ceiling(wait.TotalSeconds) : 60;
                if (context.HttpContext.Request.Path.StartsWithSegments("/login", StringComparison.OrdinalIgnoreCase))
                {
                    // The UI's sign-in form: back to the form, which says why in plain words.
                    context.HttpContext.Response.Redirect($"/login?throttled={retryAfter}");
                    return;
                }
                var isLogin = context.HttpContext.Request.Path.StartsWithSegments("/api/v1/auth", StringComparison.OrdinalIgnoreCase);
                await ProblemResponses.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests,
                    isLogin ? "auth.rate_limited" : "upload.rate_limited",
                    isLogin ? "Too many sign-in attempts from this address; wait before trying again." : "Too many uploads; wait before sending more.",
                    null, null, new Dictionary<string, string> { ["Retry-After"] = retryAfter.ToString(CultureInfo.InvariantCulture) });
            };
        });
        return services;
    }

    private static FixedWindowRateLimiterOptions Window(RateLimitOptions limit) => new()
    {
        PermitLimit = limit.PermitLimit,
        Window = limit.Window,
        QueueLimit = 0,
        AutoReplenishment = true,
    };
}
