namespace Dms.Platform.Storage;

/// <summary>
/// Immutable blobs addressed by key. Keys start with the tenant id so one tenant's files are one prefix:
/// <c>{tenant}/{document}/{version}</c> for stored versions, <c>{tenant}/staging/{session}</c> for direct uploads.
/// Both providers (FileSystem, S3) pass one contract test suite.
/// </summary>
internal interface IBlobStore
{
    /// <summary>Streams <paramref name="content"/> under <paramref name="key"/>; the blob appears whole or not at all. Memory stays bounded.</summary>
    Task PutAsync(string key, Stream content, CancellationToken ct);

    /// <summary>Reads <paramref name="length"/> bytes (all when null) from <paramref name="offset"/>; null when there is no such blob.</summary>
    Task<Stream?> OpenReadAsync(string key, long offset, long? length, CancellationToken ct);

    Task<BlobProperties?> HeadAsync(string key, CancellationToken ct);

    /// <summary>Removes the blob; removing a missing blob is not an error (clean-ups are retried).</summary>
    Task DeleteAsync(string key, CancellationToken ct);

    /// <summary>Moves a blob to a key only the server writes (server-side; no bytes pass through the API).</summary>
    Task MoveAsync(string sourceKey, string destinationKey, CancellationToken ct);

    IAsyncEnumerable<BlobProperties> ListAsync(string prefix, CancellationToken ct);

    /// <summary>
    /// Removes what writes cut off by a crash left under <paramref name="prefix"/> and untouched since <paramref name="olderThan"/>
    /// (a file store's temporary files; a live write keeps touching its file, so it is never older than the grace period).
    /// Returns how many were removed.
    /// </summary>
    Task<int> RemoveAbandonedWritesAsync(string prefix, DateTimeOffset olderThan, CancellationToken ct);

    /// <summary>A URL a client can PUT the whole blob to until <paramref name="expires"/>.</summary>
    Uri PresignPut(string key, long maxBytes, DateTimeOffset expires, Uri apiBase);

    /// <summary>A URL a client can GET the blob from until <paramref name="expires"/>, served as an attachment.</summary>
    Uri PresignGet(string key, BlobDownloadInfo download, DateTimeOffset expires, Uri apiBase);

    Task<string> StartMultipartAsync(string key, CancellationToken ct);

    Uri PresignPart(string key, string uploadId, int partNumber, long maxBytes, DateTimeOffset expires, Uri apiBase);

    /// <summary>Joins the parts in order; throws <see cref="BlobPartsInvalidException"/> when they do not match what was uploaded.</summary>
    Task CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct);

    Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct);

    /// <summary>Proves the store is reachable and writable, for the readiness check.</summary>
    Task ProbeAsync(CancellationToken ct);
}

internal sealed record BlobProperties(string Key, long Size, DateTimeOffset LastModified);

internal sealed record BlobPart(int Number, string ETag);

/// <summary>How a download is presented: file name for Content-Disposition, type, and the version's SHA-256 as ETag.</summary>
internal sealed record BlobDownloadInfo(string FileName, string ContentType, string Sha256);

internal sealed class BlobPartsInvalidException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The store cannot be reached or refused the operation; callers retry or report 503.</summary>
internal sealed class BlobStoreUnavailableException(string message, Exception inner) : Exception(message, inner);

internal static class BlobKeys
{
    public static string ForVersion(Guid tenantId, Guid documentId, Guid versionId) =>
        $"{tenantId:N}/{documentId:N}/{versionId:N}";

    public static string ForStaging(Guid tenantId, Guid sessionId) => $"{tenantId:N}/staging/{sessionId:N}";

    public static string TenantPrefix(Guid tenantId) => $"{tenantId:N}/";

    /// <summary>Signed audit checkpoints; the sequence is zero-padded so key order is chain order.</summary>
    public static string AuditCheckpointPrefix(Guid tenantId) => $"{tenantId:N}/audit-checkpoints/";

    public static string ForAuditCheckpoint(Guid tenantId, long sequence) => $"{AuditCheckpointPrefix(tenantId)}{sequence:D19}";

    /// <summary>Keys are made here from GUIDs; anything else is refused before it reaches a file system or bucket.</summary>
    public static bool IsWellFormed(string key) =>
        key.Length is > 0 and <= 512 && !key.StartsWith('/') && !key.Contains("..", StringComparison.Ordinal) &&
        key.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '-' or '_' or '.');
}
