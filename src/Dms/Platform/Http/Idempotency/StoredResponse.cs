using System.Text;

namespace Dms.Platform.Http.Idempotency;

/// <summary>What a replay gives back: the status, the headers a client acts on, and the body.</summary>
internal sealed record StoredResponse(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    /// <summary>
    /// Headers that describe the answer itself. Not kept: cookies (a replay must not sign anyone in), the correlation id
    /// and the security headers (each response gets its own), framing (Content-Length is recomputed).
    /// </summary>
    private static readonly string[] Kept =
    [
        "Content-Type", "Location", "ETag", "Last-Modified", "Content-Disposition", "Content-Language", "Cache-Control", "Retry-After",
    ];

    public static StoredResponse From(HttpResponse response, byte[] body) =>
        new(response.StatusCode,
            [.. Kept.Where(h => response.Headers.ContainsKey(h)).Select(h => new KeyValuePair<string, string>(h, response.Headers[h].ToString()))],
            body);

    /// <summary>The bytes that get encrypted: headers and body together, so nothing of the answer is readable in the table.</summary>
    public byte[] Serialize()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Headers.Count);
            foreach (var (name, value) in Headers)
            {
                writer.Write(name);
                writer.Write(value);
            }
            writer.Write(Body.Length);
            writer.Write(Body);
        }
        return buffer.ToArray();
    }

    public static StoredResponse Deserialize(int status, byte[] data)
    {
        using var reader = new BinaryReader(new MemoryStream(data), Encoding.UTF8);
        var headers = new List<KeyValuePair<string, string>>();
        for (var count = reader.ReadInt32(); count > 0; count--)
        {
            headers.Add(new(reader.ReadString(), reader.ReadString()));
        }
        return new StoredResponse(status, headers, reader.ReadBytes(reader.ReadInt32()));
    }

    public async Task WriteAsync(HttpResponse response, CancellationToken ct)
    {
        response.StatusCode = Status;
        foreach (var (name, value) in Headers)
        {
            response.Headers[name] = value;
        }
        response.Headers[IdempotencyKeys.ReplayedHeader] = "true";
        response.ContentLength = Body.Length;
        await response.Body.WriteAsync(Body, ct);
    }
}

/// <summary>
/// The response body on its way to the client, copied up to a limit: the answer streams as usual, and the copy is what
/// gets stored. Past the limit the copy is dropped (nothing large is held in memory).
/// </summary>
internal sealed class CapturingStream(Stream inner, int limit) : Stream
{
    private MemoryStream? _copy = new();

    /// <summary>The whole body as written, or null when it was larger than the limit.</summary>
    public byte[]? Captured => _copy?.ToArray();

    private void Keep(ReadOnlySpan<byte> data)
    {
        if (_copy is null)
        {
            return;
        }
        if (_copy.Length + data.Length > limit)
        {
            _copy = null;
            return;
        }
        _copy.Write(data);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Keep(buffer.Span);
        await inner.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        Keep(buffer.AsSpan(offset, count));
        inner.Write(buffer, offset, count);
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override void Flush() => inner.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
