using System.Buffers.Binary;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Platform.Http;

/// <summary>
/// Opaque cursor for keyset pagination on <c>(created_at DESC, id DESC)</c>: the last row's timestamp
/// (microseconds, PostgreSQL's precision) and id, base64url-encoded.
/// </summary>
internal readonly record struct KeysetCursor(DateTime CreatedAt, Guid Id)
{
    private const int Length = 8 + 16;

    public string Encode()
    {
        Span<byte> bytes = stackalloc byte[Length];
        var micros = (CreatedAt.ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10;
        BinaryPrimitives.WriteInt64BigEndian(bytes, micros);
        Id.TryWriteBytes(bytes[8..]);
        return WebEncoders.Base64UrlEncode(bytes.ToArray());
    }

    public static KeysetCursor? Decode(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        byte[] bytes;
        try
        {
            bytes = WebEncoders.Base64UrlDecode(value);
        }
        catch (FormatException)
        {
            throw Invalid();
        }
        if (bytes.Length != Length)
        {
            throw Invalid();
        }
        var micros = BinaryPrimitives.ReadInt64BigEndian(bytes);
        if (micros < 0 || micros > (DateTime.MaxValue - DateTime.UnixEpoch).Ticks / 10)
        {
            throw Invalid();
        }
        return new KeysetCursor(DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(micros * 10), DateTimeKind.Utc), new Guid(bytes.AsSpan(8)));
    }

    public static int Limit(int? requested, int @default = 50, int max = 200) =>
        requested switch
        {
            null => @default,
            >= 1 and var l when l <= max => l,
            _ => throw ApiProblem.Validation("limit", $"limit must be between 1 and {max}."),
        };

    private static ApiProblem Invalid() =>
        new(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");
}

internal sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor)
{
    /// <summary>How many items match in all (search results only): exact when small, else an estimate ("about 12,000").</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ResultCount? Total { get; init; }
}

/// <summary>A result count; <see cref="Exact"/> is false when it is the planner's estimate of a large result.</summary>
internal sealed record ResultCount(long Value, bool Exact);

/// <summary>The <c>{ "items": [...] }</c> shape of unpaginated lists, as the OpenAPI document describes it.</summary>
internal sealed record ItemsResponse<T>(IReadOnlyList<T> Items);
