using System.Globalization;
using System.Threading.RateLimiting;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Sharing;

/// <summary>
/// Requests to one link, whatever address they come from (a password guessed from many machines). In-process, per
/// node, like the platform's other limits. The per-address limit is <see cref="ShareAddressLimit"/>, on the routes.
/// </summary>
internal sealed class ShareRateLimiter(IOptions<DmsOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(token =>
        RateLimitPartition.GetFixedWindowLimiter(token, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.Sharing.TokenRateLimit.PermitLimit,
            Window = options.Value.Sharing.TokenRateLimit.Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Takes one permit for the link with this token hash, or throws 429 <c>share.rate_limited</c>.</summary>
    public void Acquire(byte[] tokenHash)
    {
        using var lease = _limiter.AttemptAcquire(Convert.ToHexString(tokenHash));
        if (!lease.IsAcquired)
        {
            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? (int)Math.Ceiling(wait.TotalSeconds) : 60;
            throw new ApiProblem(StatusCodes.Status429TooManyRequests, "share.rate_limited", "Too many requests for this link; wait before trying again.")
            {
                Headers = new Dictionary<string, string> { ["Retry-After"] = retryAfter.ToString(CultureInfo.InvariantCulture) },
            };
        }
    }

    public void Dispose() => _limiter.Dispose();
}

/// <summary>Requests to any share link from one client address (ASP.NET Core's limiter, on the public routes).</summary>
internal sealed class ShareAddressLimit(IOptions<DmsOptions> options) : IRateLimiterPolicy<string>
{
    public const string Name = "share-links";

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = async (context, ct) =>
    {
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? (int)Math.Ceiling(wait.TotalSeconds) : 60;
        await ProblemResponses.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, "share.rate_limited",
            "Too many requests for share links from this address; wait before trying again.", null, null,
            new Dictionary<string, string> { ["Retry-After"] = retryAfter.ToString(CultureInfo.InvariantCulture) });
    };

    public RateLimitPartition<string> GetPartition(HttpContext httpContext) =>
        RateLimitPartition.GetFixedWindowLimiter(httpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.Value.Sharing.AddressRateLimit.PermitLimit,
            Window = options.Value.Sharing.AddressRateLimit.Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        });
}
