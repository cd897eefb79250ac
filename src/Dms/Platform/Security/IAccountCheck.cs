using System.Security.Claims;

namespace Dms.Platform.Security;

/// <summary>
/// Runs on every authenticated request (bearer token or UI cookie): is the account still in force, and with which role?
/// Implemented by the Access module, which owns the accounts; Platform's authentication calls it.
/// </summary>
internal interface IAccountCheck
{
    /// <summary>Null when the account (and with <paramref name="requireSignIn"/>, its sign-in) is in force, with its stored role applied to the principal; else why not.</summary>
    Task<string?> CheckAsync(HttpContext http, ClaimsPrincipal? principal, bool requireSignIn);
}

/// <summary>
/// Bearer tokens that are not JWTs, by prefix (personal API tokens): a module registers its scheme here and the
/// "Bearer" policy scheme forwards matching tokens to it.
/// </summary>
internal sealed class BearerTokenSchemes
{
    public Dictionary<string, string> ByPrefix { get; } = new(StringComparer.Ordinal);
}

/// <summary>Scopes a token may be limited to.</summary>
internal static class TokenScopes
{
    /// <summary>The token may only read (GET and HEAD).</summary>
    public const string Read = "read";
}
