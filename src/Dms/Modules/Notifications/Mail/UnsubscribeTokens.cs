using System.Security.Cryptography;
using System.Text;
using Dms.Platform.Security;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Modules.Notifications.Mail;

/// <summary>What an unsubscribe link names: a user of a tenant and a kind, or every kind (<see cref="AllKinds"/>).</summary>
internal sealed record Unsubscribe(Guid TenantId, Guid UserId, string Kind)
{
    public const string AllKinds = "*";
}

/// <summary>
/// Unsubscribe links work without signing in, so the link itself is the proof: the user, tenant and kind signed with
/// HMAC-SHA256 under a key derived from the token signing key (a different purpose, so one can never pass for the other).
/// They do not expire: a mail read in a month must still unsubscribe; rotating the signing key voids them all.
/// </summary>
internal sealed class UnsubscribeTokens(SigningKey signingKey)
{
    private readonly byte[] _key = HMACSHA256.HashData(signingKey.Key.Key, "dms mail unsubscribe v1"u8);

    public string Create(Unsubscribe what)
    {
        var payload = Encoding.UTF8.GetBytes($"{what.TenantId:N}.{what.UserId:N}.{what.Kind}");
        return $"{WebEncoders.Base64UrlEncode(payload)}.{WebEncoders.Base64UrlEncode(HMACSHA256.HashData(_key, payload))}";
    }

    /// <summary>The link's subject, or null for anything not made by <see cref="Create"/> with this key.</summary>
    public Unsubscribe? Read(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 1000 || token.Split('.') is not [var p, var s])
        {
            return null;
        }
        byte[] payload, signature;
        try
        {
            payload = WebEncoders.Base64UrlDecode(p);
            signature = WebEncoders.Base64UrlDecode(s);
        }
        catch (FormatException)
        {
            return null;
        }
        if (!CryptographicOperations.FixedTimeEquals(signature, HMACSHA256.HashData(_key, payload)))
        {
            return null;
        }
        return Encoding.UTF8.GetString(payload).Split('.', 3) is [var tenant, var user, var kind]
            && Guid.TryParseExact(tenant, "N", out var tenantId) && Guid.TryParseExact(user, "N", out var userId)
            ? new Unsubscribe(tenantId, userId, kind)
            : null;
    }
}
