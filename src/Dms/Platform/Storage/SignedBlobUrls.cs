using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Platform.Storage;

/// <summary>
/// What a signed URL allows: one method on one key (so one tenant, whose id starts the key) until a
/// time, with the size cap and presentation the server chose.
/// </summary>
internal sealed record BlobGrant(
    string Method, string Key, long Expires, long? MaxBytes = null, string? UploadId = null, int? Part = null,
    string? FileName = null, string? ContentType = null, string? Sha256 = null);

/// <summary>
/// HMAC-SHA256-signed, expiring URLs for the FileSystem provider's own upload and download endpoints,
/// so direct transfers work the same way with or without S3. The key is derived from the token signing key.
/// </summary>
internal sealed class SignedBlobUrls(SigningKey signingKey, TimeProvider clock)
{
    public const string ObjectsPath = "/api/v1/storage/objects";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly byte[] _key = HMACSHA256.HashData(signingKey.Key.Key, "dms-signed-blob-url-v1"u8);

    public Uri Create(Uri apiBase, BlobGrant grant)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(grant, Json);
        var token = $"{WebEncoders.Base64UrlEncode(payload)}.{WebEncoders.Base64UrlEncode(HMACSHA256.HashData(_key, payload))}";
        return new Uri(apiBase, $"{ObjectsPath}?token={token}");
    }

    /// <summary>The grant of a valid, unexpired token for <paramref name="method"/>; a 403 problem otherwise.</summary>
    public BlobGrant Verify(string? token, string method)
    {
        var dot = token?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (token is null || dot <= 0 || token.Length > 8192)
        {
            throw Invalid();
        }
        byte[] payload, signature;
        try
        {
            payload = WebEncoders.Base64UrlDecode(token[..dot]);
            signature = WebEncoders.Base64UrlDecode(token[(dot + 1)..]);
        }
        catch (FormatException)
        {
            throw Invalid();
        }
        if (!CryptographicOperations.FixedTimeEquals(signature, HMACSHA256.HashData(_key, payload)))
        {
            throw Invalid();
        }
        var grant = JsonSerializer.Deserialize<BlobGrant>(payload, Json) ?? throw Invalid();
        if (!string.Equals(grant.Method, method, StringComparison.Ordinal) || !BlobKeys.IsWellFormed(grant.Key))
        {
            throw Invalid();
        }
        if (clock.GetUtcNow().ToUnixTimeSeconds() > grant.Expires)
        {
            throw new ApiProblem(StatusCodes.Status403Forbidden, "storage.signature_expired", "This signed URL has expired; ask the API for a new one.");
        }
        return grant;
    }

    private static ApiProblem Invalid() =>
        new(StatusCodes.Status403Forbidden, "storage.signature_invalid", "The signed URL is invalid or was altered.");

    internal static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    internal static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);
}
