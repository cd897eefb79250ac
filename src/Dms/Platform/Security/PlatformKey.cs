using System.Security.Cryptography;
using System.Text;
using Dms.Platform.Configuration;
using Dms.Platform.Http;

namespace Dms.Platform.Security;

/// <summary>The platform operator's key (<c>X-Platform-Key</c>, <c>Dms__Platform__ApiKey</c>) on the <c>/api/v1/platform/*</c> endpoints.</summary>
internal static class PlatformKey
{
    public const string Header = "X-Platform-Key";

    /// <summary>404 <c>platform.disabled</c> when no key is configured, 401 <c>platform.invalid_key</c> when the header does not match.</summary>
    public static void Require(HttpContext http, DmsOptions options)
    {
        var configured = options.Platform.ApiKey;
        if (string.IsNullOrEmpty(configured))
        {
            throw new ApiProblem(StatusCodes.Status404NotFound, "platform.disabled",
                "Platform endpoints are disabled: set Dms__Platform__ApiKey to enable them.");
        }
        var given = http.Request.Headers[Header].ToString();
        // Hashed first so the comparison takes the same time whatever the lengths.
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(configured))))
        {
            throw new ApiProblem(StatusCodes.Status401Unauthorized, "platform.invalid_key", $"A valid {Header} header is required.");
        }
    }
}
