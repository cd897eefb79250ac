using System.Security.Cryptography;
using System.Text;

namespace Dms.Modules.Webhooks.Domain;

/// <summary>
/// Standard Webhooks signing: HMAC-SHA256 over <c>{id}.{timestamp}.{body}</c>, keyed with the decoded base64 of a
/// <c>whsec_</c> secret, sent as <c>v1,&lt;base64&gt;</c>; several signatures (rotation overlap) are space-separated.
/// </summary>
internal static class Signatures
{
    public const string Prefix = "whsec_";

    /// <summary>A new secret: 32 random bytes.</summary>
    public static string NewSecret() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public static byte[] Key(string secret) =>
        Convert.FromBase64String(secret.StartsWith(Prefix, StringComparison.Ordinal) ? secret[Prefix.Length..] : secret);

    public static string Sign(string secret, string id, long timestamp, string body)
    {
        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}");
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(Key(secret), signed));
    }

    /// <summary>The header value: one signature per valid secret, the current one first.</summary>
    public static string Header(IEnumerable<string> secrets, string id, long timestamp, string body) =>
        string.Join(' ', secrets.Select(s => Sign(s, id, timestamp, body)));
}
