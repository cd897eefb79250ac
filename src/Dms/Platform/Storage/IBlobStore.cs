namespace Dms.Platform.Storage;

/// <summary>
/// Immutable blobs addressed by key. Keys start with the tenant id (<c>{tenant}/{document}/{version}</c>)
/// so one tenant's files are one prefix.
/// </summary>
internal interface IBlobStore
{
    /// <summary>Writes <paramref name="content"/> under <paramref name="key"/>; the blob appears whole or not at all.</summary>
    Task PutAsync(string key, Stream content, CancellationToken ct);

    /// <summary>A seekable read stream, or null when there is no such blob.</summary>
    Task<Stream?> OpenReadAsync(string key, CancellationToken ct);

    Task<bool> ExistsAsync(string key, CancellationToken ct);

    /// <summary>Removes the blob; removing a missing blob is not an error (clean-ups are retried).</summary>
    Task DeleteAsync(string key, CancellationToken ct);

    /// <summary>Proves the store is writable, for the readiness check.</summary>
    Task ProbeAsync(CancellationToken ct);
}

internal static class BlobKeys
{
    public static string ForVersion(Guid tenantId, Guid documentId, Guid versionId) =>
        $"{tenantId:N}/{documentId:N}/{versionId:N}";
}
