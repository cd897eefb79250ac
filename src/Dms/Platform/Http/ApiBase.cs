using Dms.Platform.Configuration;

namespace Dms.Platform.Http;

/// <summary>The API's public base address, for URLs handed to clients (signed upload and download URLs).</summary>
internal static class ApiBase
{
    /// <summary><c>Dms__PublicUrl</c> when set (behind a proxy that rewrites the host), else the request's own scheme and host.</summary>
    public static Uri From(HttpContext http, DmsOptions options) =>
        !string.IsNullOrWhiteSpace(options.PublicUrl)
            ? new Uri(options.PublicUrl.TrimEnd('/') + "/")
            : new Uri($"{http.Request.Scheme}://{http.Request.Host}{http.Request.PathBase}/");
}
