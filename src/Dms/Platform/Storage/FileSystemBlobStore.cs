namespace Dms.Platform.Storage;

/// <summary>Blobs as files under one root folder; writes go to a temporary file renamed into place.</summary>
internal sealed class FileSystemBlobStore : IBlobStore
{
    private readonly string _root;

    public FileSystemBlobStore(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
    }

    public async Task PutAsync(string key, Stream content, CancellationToken ct)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.partial";
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await content.CopyToAsync(file, 81920, ct);
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: false);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken ct)
    {
        var path = PathOf(key);
        if (!File.Exists(path))
        {
            return Task.FromResult<Stream?>(null);
        }
        try
        {
            return Task.FromResult<Stream?>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous | FileOptions.SequentialScan));
        }
        catch (FileNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task<bool> ExistsAsync(string key, CancellationToken ct) => Task.FromResult(File.Exists(PathOf(key)));

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    public async Task ProbeAsync(CancellationToken ct)
    {
        var probe = Path.Combine(_root, $".probe-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(probe, "ok", ct);
        File.Delete(probe);
    }

    private string PathOf(string key)
    {
        // Keys are made by BlobKeys from GUIDs; refuse anything else rather than trust it near the file system.
        if (key.Length == 0 || key.Contains("..", StringComparison.Ordinal) || key.StartsWith('/') || key.Contains('\\', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Invalid blob key '{key}'.", nameof(key));
        }
        return Path.Combine(_root, key);
    }
}
