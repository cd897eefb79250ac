using System.Security.Cryptography;

namespace Dms.Platform.Storage;

/// <summary>
/// Reads the already-sniffed head, then the rest of the upload, hashing every byte with SHA-256 and
/// failing once more than the allowed size has passed, so the file is never held in memory whole.
/// </summary>
internal sealed class HashingLimitedStream(ReadOnlyMemory<byte> head, Stream rest, long maxBytes) : ReadOnlyStream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private ReadOnlyMemory<byte> _head = head;

    public long BytesRead { get; private set; }

    public string Sha256Hex() => Convert.ToHexString(_hash.GetCurrentHash()).ToLowerInvariant();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        if (!_head.IsEmpty)
        {
            read = Math.Min(buffer.Length, _head.Length);
            _head[..read].CopyTo(buffer);
            _head = _head[read..];
        }
        else
        {
            read = await rest.ReadAsync(buffer, cancellationToken);
        }
        BytesRead += read;
        if (BytesRead > maxBytes)
        {
            throw new UploadTooLargeException(maxBytes);
        }
        _hash.AppendData(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Uploads are read asynchronously.");

    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}

internal sealed class UploadTooLargeException(long maxBytes) : Exception($"The upload exceeds {maxBytes} bytes.")
{
    public long MaxBytes { get; } = maxBytes;
}
