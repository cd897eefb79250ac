using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Dms.Platform.Configuration;
using Npgsql;

namespace Dms.Modules.Documents.Sharing;

/// <summary>
/// What a link is at a moment. Only revocation is stored as a change (<see cref="ShareLinkStates"/>); expiry and a used-up
/// download limit follow from the clock and the counter.
/// </summary>
internal enum ShareLinkStatus
{
    Active,
    Expired,
    Revoked,
    UsedUp,
}

internal static class ShareLinkStates
{
    /// <summary>The one move a person makes on a link: an active, expired or used-up link can be revoked; revoked is final.</summary>
    public static bool CanRevoke(ShareLinkStatus from) => from != ShareLinkStatus.Revoked;

    public static ShareLinkStatus Of(DateTime? revokedAt, DateTime expiresAt, int? maxDownloads, int downloads, DateTimeOffset now) =>
        revokedAt is not null ? ShareLinkStatus.Revoked
        : expiresAt <= now.UtcDateTime ? ShareLinkStatus.Expired
        : maxDownloads is { } max && downloads >= max ? ShareLinkStatus.UsedUp
        : ShareLinkStatus.Active;
}

/// <summary>Link tokens: 256 random bits, base64url; only their SHA-256 is stored.</summary>
internal static class ShareTokens
{
    public const int Length = 43;

    public static string New() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>The stored form of a token, or null for text that cannot be a token (answered 404 without a query).</summary>
    public static byte[]? Hash(string? token) =>
        token is { Length: Length } && token.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_')
            ? SHA256.HashData(Encoding.ASCII.GetBytes(token))
            : null;
}

/// <summary>The password of a protected link, as <see cref="Microsoft.AspNetCore.Identity.PasswordHasher{TUser}"/> sees it.</summary>
internal sealed class ShareLinkSecret
{
    public static readonly Microsoft.AspNetCore.Identity.PasswordHasher<ShareLinkSecret> Hasher = new();
    public static readonly ShareLinkSecret Instance = new();
}

internal sealed record ShareSettingsResponse(bool Enabled, int MaxDays);

/// <summary>The tenant's sharing settings, in the caller's transaction; no row means the node's defaults.</summary>
internal static class ShareSettingsStore
{
    public static async Task<ShareSettingsResponse> ReadAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, SharingOptions defaults, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<ShareSettingsResponse>(new CommandDefinition(
            "SELECT enabled AS Enabled, max_days AS MaxDays FROM share_settings WHERE tenant_id = @tenant", new { tenant }, tx, cancellationToken: ct))
        ?? new ShareSettingsResponse(defaults.Enabled, defaults.MaxDays);
}

/// <summary>A link as its document's readers see it. The token is not here: it is shown once, when the link is made.</summary>
internal sealed record ShareResponse(Guid Id, Guid DocumentId, int Version, DateTime ExpiresAt, bool HasPassword, int? MaxDownloads, int Downloads,
    DateTime CreatedAt, Guid CreatedBy, DateTime? RevokedAt, ShareLinkStatus Status);

/// <summary>The answer to creating a link: its id, and the only time its address is told.</summary>
internal sealed record CreatedShareResponse(Guid Id, string Url, ShareResponse Share);

internal sealed record ShareRow(Guid Id, Guid DocumentId, int VersionNumber, DateTime ExpiresAt, string? PasswordHash, int? MaxDownloads, int Downloads,
    DateTime CreatedAt, Guid CreatedBy, DateTime? RevokedAt)
{
    public const string Columns = "id AS Id, document_id AS DocumentId, version_number AS VersionNumber, expires_at AS ExpiresAt, password_hash AS PasswordHash, " +
        "max_downloads AS MaxDownloads, downloads AS Downloads, created_at AS CreatedAt, created_by AS CreatedBy, revoked_at AS RevokedAt";

    public ShareLinkStatus StatusAt(DateTimeOffset now) => ShareLinkStates.Of(RevokedAt, ExpiresAt, MaxDownloads, Downloads, now);

    public ShareResponse ToResponse(DateTimeOffset now) =>
        new(Id, DocumentId, VersionNumber, ExpiresAt, PasswordHash is not null, MaxDownloads, Downloads, CreatedAt, CreatedBy, RevokedAt, StatusAt(now));
}
