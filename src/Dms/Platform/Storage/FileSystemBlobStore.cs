using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Dms.Platform.Storage;

/// <summary>
/// Blobs as files under one root folder (shared storage when several API nodes run). Writes go to a
/// temporary file renamed into place; direct uploads and downloads go through the API's own signed URLs.
/// Multipart parts live under <c>.multipart/{uploadId}/</c> until completed or aborted.
/// </summary>
internal sealed class FileSystemBlobStore : IBlobStore
{
    private const int BufferSize = 81920;
    private readonly string _root;
    private readonly string _multipartRoot;
    private readonly SignedBlobUrls _urls;

    public FileSystemBlobStore(string root, SignedBlobUrls urls)
    {
        _root = Path.GetFullPath(root);
        _multipartRoot = Path.Combine(_root, ".multipart");
        _urls = urls;
        Directory.CreateDirectory(_root);
    }

    public async Task PutAsync(string key, Stream content, CancellationToken ct)
    {
        var path = PathOf(key);
        await WriteAtomicallyAsync(path, content, overwrite: true, ct);
    }

    /// <summary>Writes a file whole or not at all and returns the hex SHA-256 of what was written.</summary>
    internal static async Task<string> WriteAtomicallyAsync(string path, Stream content, bool overwrite, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.partial";
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous))
            {
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await content.ReadAsync(buffer, ct)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite);
            return SignedBlobUrls.Hex(hash.GetCurrentHash());
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public Task<Stream?> OpenReadAsync(string key, long offset, long? length, CancellationToken ct)
    {
        FileStream file;
        try
        {
            file = new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
        file.Seek(offset, SeekOrigin.Begin);
        return Task.FromResult<Stream?>(length is { } l ? new BoundedReadStream(file, l) : file);
    }

    public Task<BlobProperties?> HeadAsync(string key, CancellationToken ct)
    {
        var info = new FileInfo(PathOf(key));
        return Task.FromResult(info.Exists ? new BlobProperties(key, info.Length, info.LastWriteTimeUtc) : null);
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        try
        {
            File.Delete(PathOf(key));
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing was ever written under this key's folder: already gone.
        }
        return Task.CompletedTask;
    }

    public Task MoveAsync(string sourceKey, string destinationKey, CancellationToken ct)
    {
        var destination = PathOf(destinationKey);
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        // Destinations are server-only keys: overwriting one only ever repeats an interrupted move.
        File.Move(PathOf(sourceKey), destination, overwrite: true);
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<BlobProperties> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        if (!BlobKeys.IsWellFormed(prefix.TrimEnd('/')))
        {
            throw new ArgumentException($"Invalid prefix '{prefix}'.", nameof(prefix));
        }
        // Prefixes end at a folder boundary ("{tenant}/"), which is how keys are laid out on disk.
        var folder = Path.Combine(_root, prefix.TrimEnd('/'));
        if (!Directory.Exists(folder))
        {
            yield break;
        }
        foreach (var path in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            ct.ThrowIfCancellationRequested();
            if (path.EndsWith(".partial", StringComparison.Ordinal))
            {
                continue;
            }
            var info = new FileInfo(path);
            if (info.Exists)
            {
                yield return new BlobProperties(Path.GetRelativePath(_root, path).Replace('\\', '/'), info.Length, info.LastWriteTimeUtc);
            }
            await Task.CompletedTask;
        }
    }

    /// <summary>
    /// Deletes the temporary files (<c>*.partial</c>) of writes a crash cut off. A write in progress appends to its file all
    /// the time, so a file untouched since <paramref name="olderThan"/> (the orphan grace period) belongs to no live write.
    /// </summary>
    public Task<int> RemoveAbandonedWritesAsync(string prefix, DateTimeOffset olderThan, CancellationToken ct)
    {
        if (!BlobKeys.IsWellFormed(prefix.TrimEnd('/')))
        {
            throw new ArgumentException($"Invalid prefix '{prefix}'.", nameof(prefix));
        }
        var folder = Path.Combine(_root, prefix.TrimEnd('/'));
        var removed = 0;
        if (!Directory.Exists(folder))
        {
            return Task.FromResult(removed);
        }
        foreach (var path in Directory.EnumerateFiles(folder, "*.partial", SearchOption.AllDirectories))
        {
            ct.ThrowIfCancellationRequested();
            var info = new FileInfo(path);
            if (info.Exists && info.LastWriteTimeUtc <= olderThan.UtcDateTime)
            {
                try
                {
                    info.Delete();
                    removed++;
                }
                catch (IOException)
                {
                    // gone meanwhile (its write finished or failed): nothing to clean
                }
            }
        }
        return Task.FromResult(removed);
    }

    public Uri PresignPut(string key, long maxBytes, DateTimeOffset expires, Uri apiBase) =>
        _urls.Create(apiBase, new BlobGrant("PUT", Checked(key), expires.ToUnixTimeSeconds(), MaxBytes: maxBytes));

    public Uri PresignGet(string key, BlobDownloadInfo download, DateTimeOffset expires, Uri apiBase) =>
        _urls.Create(apiBase, new BlobGrant("GET", Checked(key), expires.ToUnixTimeSeconds(),
            FileName: download.FileName, ContentType: download.ContentType, Sha256: download.Sha256));

    public Task<string> StartMultipartAsync(string key, CancellationToken ct)
    {
        var uploadId = Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(Path.Combine(_multipartRoot, uploadId));
        return Task.FromResult(uploadId);
    }

    public Uri PresignPart(string key, string uploadId, int partNumber, long maxBytes, DateTimeOffset expires, Uri apiBase) =>
        _urls.Create(apiBase, new BlobGrant("PUT", Checked(key), expires.ToUnixTimeSeconds(), MaxBytes: maxBytes, UploadId: uploadId, Part: partNumber));

    /// <summary>Stores one part sent to a signed part URL; its ETag is the hex SHA-256 of its bytes.</summary>
    internal async Task<string> PutPartAsync(string uploadId, int partNumber, Stream content, CancellationToken ct)
    {
        var folder = MultipartFolder(uploadId);
        if (!Directory.Exists(folder))
        {
            throw new BlobPartsInvalidException("The multipart upload does not exist (completed, aborted or expired).");
        }
        return await WriteAtomicallyAsync(Path.Combine(folder, $"{partNumber:D5}"), content, overwrite: true, ct);
    }

    public async Task CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct)
    {
        var folder = MultipartFolder(uploadId);
        if (!Directory.Exists(folder))
        {
            throw new BlobPartsInvalidException("The multipart upload does not exist (completed, aborted or expired).");
        }
        if (parts.Count == 0 || parts.Select(p => p.Number).SequenceEqual(Enumerable.Range(1, parts.Count)) is false)
        {
            throw new BlobPartsInvalidException("Parts must be numbered 1..n in order.");
        }
        foreach (var part in parts)
        {
            var path = Path.Combine(folder, $"{part.Number:D5}");
            if (!File.Exists(path))
            {
                throw new BlobPartsInvalidException($"Part {part.Number} was not uploaded.");
            }
            if (!string.Equals(part.ETag.Trim('"'), await HashFileAsync(path, ct), StringComparison.OrdinalIgnoreCase))
            {
                throw new BlobPartsInvalidException($"Part {part.Number}'s ETag does not match the uploaded bytes.");
            }
        }
        await using (var joined = new ConcatenatedFilesStream(parts.Select(p => Path.Combine(folder, $"{p.Number:D5}")).ToList()))
        {
            await WriteAtomicallyAsync(PathOf(key), joined, overwrite: true, ct);
        }
        Directory.Delete(folder, recursive: true);
    }

    public Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct)
    {
        var folder = MultipartFolder(uploadId);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
        return Task.CompletedTask;
    }

    public async Task ProbeAsync(CancellationToken ct)
    {
        var probe = PathOf($".probe-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(probe, "ok", ct);
        File.Delete(probe);
    }

    private static async Task<string> HashFileAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return SignedBlobUrls.Hex(await SHA256.HashDataAsync(file, ct));
    }

    private string MultipartFolder(string uploadId) =>
        Guid.TryParseExact(uploadId, "N", out _) ? Path.Combine(_multipartRoot, uploadId) : throw new BlobPartsInvalidException("Unknown multipart upload.");

    private static string Checked(string key) =>
        BlobKeys.IsWellFormed(key) ? key : throw new ArgumentException($"Invalid blob key '{key}'.", nameof(key));

    private string PathOf(string key)
    {
        // A vanished root is an unmounted or unreachable volume, not a missing blob: callers must retry, not
        // conclude the file is gone.
        if (!Directory.Exists(_root))
        {
            throw new BlobStoreUnavailableException($"The storage folder {_root} is not available.", new DirectoryNotFoundException(_root));
        }
        return Path.Combine(_root, Checked(key));
    }

    internal string PathFor(string key) => PathOf(key);
}
