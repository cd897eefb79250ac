using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using Dms.Platform;
using Microsoft.Net.Http.Headers;

namespace Dms.Platform.Http.Idempotency;

/// <summary>
/// SHA-256 over what makes two requests "the same": method, path, query, media type, <c>If-Match</c> and the body. The
/// body is fed as it streams (never buffered). A multipart body's boundary is a random string each client picks anew
/// when it rebuilds the form for a retry, so every <c>--boundary</c> is hashed as one fixed token, and the boundary
/// parameter is left out of the media type: the same form sent twice has one fingerprint.
/// </summary>
internal sealed class RequestFingerprint : IDisposable
{
    private static readonly byte[] BoundaryToken = "\0--boundary\0"u8.ToArray();

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[]? _delimiter;
    private byte[] _carry = [];

    private RequestFingerprint(string head, string? boundary)
    {
        _hash.AppendData(Encoding.UTF8.GetBytes(head));
        _delimiter = boundary is { Length: > 0 } ? Encoding.ASCII.GetBytes("--" + boundary) : null;
    }

    public static RequestFingerprint Start(HttpRequest request)
    {
        string? boundary = null;
        var mediaType = "";
        if (MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType))
        {
            mediaType = contentType.MediaType.Value?.ToLowerInvariant() ?? "";
            if (mediaType.StartsWith("multipart/", StringComparison.Ordinal))
            {
                boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
            }
            // Other parameters (charset) change how the body reads: they stay; only the boundary is noise.
            mediaType += string.Concat(contentType.Parameters
                .Where(p => !p.Name.Equals("boundary", StringComparison.OrdinalIgnoreCase))
                .Select(p => $";{p.Name.Value?.ToLowerInvariant()}={p.Value.Value}"));
        }
        // Routing ignores the path's case (ids too), so does the fingerprint; the query is taken as sent.
        var head = string.Join('\n', request.Method.ToUpperInvariant(), request.PathBase.Add(request.Path).Value?.ToLowerInvariant(),
            request.QueryString.Value, mediaType, request.Headers.IfMatch.ToString(), "");
        return new RequestFingerprint(head, boundary);
    }

    /// <summary>Feeds the next bytes of the body.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        if (_delimiter is null)
        {
            _hash.AppendData(data);
            return;
        }
        // The bytes held back last time may begin a delimiter that these bytes finish.
        var length = _carry.Length + data.Length;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            _carry.CopyTo(rented, 0);
            data.CopyTo(rented.AsSpan(_carry.Length));
            var rest = rented.AsSpan(0, length);
            int at;
            while ((at = rest.IndexOf(_delimiter)) >= 0)
            {
                _hash.AppendData(rest[..at]);
                _hash.AppendData(BoundaryToken);
                rest = rest[(at + _delimiter.Length)..];
            }
            // Hold back what could be the start of a delimiter cut by the end of this read.
            var keep = Math.Min(rest.Length, _delimiter.Length - 1);
            _hash.AppendData(rest[..^keep]);
            _carry = rest[^keep..].ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The fingerprint of the request whose whole body was fed.</summary>
    public byte[] Finish()
    {
        _hash.AppendData(_carry);
        _carry = [];
        return _hash.GetHashAndReset();
    }

    public void Dispose() => _hash.Dispose();
}

/// <summary>The request body as the handler reads it, fed to a <see cref="RequestFingerprint"/> on the way.</summary>
internal sealed class FingerprintingStream(Stream inner, RequestFingerprint fingerprint) : ReadOnlyStream
{
    /// <summary>Reads what the handler left unread, so the fingerprint covers the whole body.</summary>
    public async Task DrainAsync(CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (await ReadAsync(buffer.AsMemory(), ct) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken);
        fingerprint.Append(buffer.Span[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, count);
        fingerprint.Append(buffer.AsSpan(offset, read));
        return read;
    }

}
