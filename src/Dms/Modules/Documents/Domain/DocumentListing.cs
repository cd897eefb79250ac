using System.Buffers.Binary;
using System.Text;
using Dms.Platform.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Modules.Documents.Domain;

/// <summary>The sort keys of <c>GET /documents</c>: only columns of <c>documents</c> with an index ending in <c>id</c>.</summary>
internal enum DocumentSortKey : byte
{
    CreatedAt = 0,
    UpdatedAt = 1,
    Title = 2,
}

/// <summary>A sort key and direction; the keyset compares <c>(key, id)</c> in the same direction for both.</summary>
internal readonly record struct DocumentSort(DocumentSortKey Key, bool Descending)
{
    public static readonly DocumentSort Default = new(DocumentSortKey.CreatedAt, true);

    public string Column => Key switch
    {
        DocumentSortKey.UpdatedAt => "d.updated_at",
        DocumentSortKey.Title => "d.title",
        _ => "d.created_at",
    };

    /// <summary>Parses <c>sort</c> and <c>order</c>; dates default to newest first, titles to A→Z.</summary>
    public static DocumentSort Parse(string? sort, string? order, Validator v)
    {
        DocumentSortKey? key = sort?.ToLowerInvariant() switch
        {
            null or "" or "createdat" => DocumentSortKey.CreatedAt,
            "updatedat" => DocumentSortKey.UpdatedAt,
            "title" => DocumentSortKey.Title,
            _ => null,
        };
        bool? descending = order?.ToLowerInvariant() switch
        {
            null or "" => null,
            "desc" => true,
            "asc" => false,
            _ => (bool?)null,
        };
        v.Require(key is not null, "sort", "sort must be createdAt, updatedAt, title or (with q) relevance.");
        v.Require(string.IsNullOrEmpty(order) || descending is not null, "order", "order must be asc or desc.");
        var k = key ?? DocumentSortKey.CreatedAt;
        return new DocumentSort(k, descending ?? k != DocumentSortKey.Title);
    }
}

/// <summary>
/// The position after the last row of a page in one sort: which sort it belongs to, that row's sort key and id,
/// base64url-encoded. A cursor is only valid with the sort that issued it (<c>request.cursor_sort_mismatch</c>).
/// </summary>
internal sealed record DocumentCursor(DocumentSort Sort, DateTime? At, string? Title, Guid Id)
{
    private const byte Format = 1;
    private const int LegacyLength = 8 + 16;

    public static DocumentCursor After(DocumentSort sort, DocumentResponse last) => sort.Key switch
    {
        DocumentSortKey.Title => new DocumentCursor(sort, null, last.Title, last.Id),
        DocumentSortKey.UpdatedAt => new DocumentCursor(sort, last.UpdatedAt, null, last.Id),
        _ => new DocumentCursor(sort, last.CreatedAt, null, last.Id),
    };

    /// <summary>The key as a query parameter value.</summary>
    public object Key => Sort.Key == DocumentSortKey.Title ? Title! : At!.Value;

    public string Encode()
    {
        var key = Sort.Key == DocumentSortKey.Title ? Encoding.UTF8.GetBytes(Title!) : new byte[8];
        if (Sort.Key != DocumentSortKey.Title)
        {
            BinaryPrimitives.WriteInt64BigEndian(key, (At!.Value.ToUniversalTime() - DateTime.UnixEpoch).Ticks / 10);
        }
        var bytes = new byte[3 + 16 + key.Length];
        bytes[0] = Format;
        bytes[1] = (byte)Sort.Key;
        bytes[2] = Sort.Descending ? (byte)1 : (byte)0;
        Id.TryWriteBytes(bytes.AsSpan(3, 16));
        key.CopyTo(bytes.AsSpan(19));
        return WebEncoders.Base64UrlEncode(bytes);
    }

    /// <summary>Decodes a cursor for <paramref name="sort"/>: 400 when it is not ours or belongs to another sort.</summary>
    public static DocumentCursor? Decode(string? value, DocumentSort sort)
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
        DocumentCursor cursor;
        if (bytes.Length == LegacyLength && bytes[0] == 0)
        {
            // Cursors issued before sorting existed: (created_at, id), newest first. Their first byte is the top byte of a
            // big-endian microsecond count (zero until the year 4254); ours is the format byte, never zero.
            var legacy = KeysetCursor.Decode(value)!.Value;
            cursor = new DocumentCursor(DocumentSort.Default, legacy.CreatedAt, null, legacy.Id);
        }
        else
        {
            if (bytes.Length < 3 + 16 || bytes[0] != Format || bytes[1] > (byte)DocumentSortKey.Title || bytes[2] > 1)
            {
                throw Invalid();
            }
            var cursorSort = new DocumentSort((DocumentSortKey)bytes[1], bytes[2] == 1);
            var id = new Guid(bytes.AsSpan(3, 16));
            var key = bytes.AsSpan(19);
            if (cursorSort.Key == DocumentSortKey.Title)
            {
                string title;
                try
                {
                    title = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(key);
                }
                catch (DecoderFallbackException)
                {
                    throw Invalid();
                }
                if (!DocumentFields.IsValidTitle(title))
                {
                    throw Invalid();
                }
                cursor = new DocumentCursor(cursorSort, null, title, id);
            }
            else
            {
                if (key.Length != 8)
                {
                    throw Invalid();
                }
                var micros = BinaryPrimitives.ReadInt64BigEndian(key);
                if (micros < 0 || micros > (DateTime.MaxValue - DateTime.UnixEpoch).Ticks / 10)
                {
                    throw Invalid();
                }
                cursor = new DocumentCursor(cursorSort, DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(micros * 10), DateTimeKind.Utc), null, id);
            }
        }
        if (cursor.Sort != sort)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.cursor_sort_mismatch",
                "The cursor belongs to another sort order.", "Start again without a cursor when sort or order changes.");
        }
        return cursor;
    }

    private static ApiProblem Invalid() =>
        new(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");
}

/// <summary>
/// File families for the <c>type</c> filter, from the current version's stored content type (always one of
/// <see cref="FileKind.All"/>, so prefixes are exact enough).
/// </summary>
internal static class FileFamilies
{
    public static readonly IReadOnlyDictionary<string, string[]> Patterns = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase)
    {
        ["pdf"] = ["application/pdf"],
        ["image"] = ["image/%"],
        ["office"] = ["application/vnd.openxmlformats-officedocument.%", "application/vnd.oasis.opendocument.%"],
        ["text"] = ["text/%"],
    };

    public static readonly string[] Names = ["pdf", "image", "office", "text"];

    /// <summary>The family of a stored content type, for display.</summary>
    public static string Of(string contentType) => contentType switch
    {
        "application/pdf" => "pdf",
        _ when contentType.StartsWith("image/", StringComparison.Ordinal) => "image",
        _ when contentType.StartsWith("text/", StringComparison.Ordinal) => "text",
        _ => "office",
    };
}

/// <summary>The document statuses a list may be filtered by (deleted ones live in the trash).</summary>
internal static class ListableStatuses
{
    public static IReadOnlyList<DocumentStatus> All => DocumentStates.Live;

    /// <summary>The status a filter value names, in any letter case; null when it names none a list shows.</summary>
    public static DocumentStatus? Canonical(string value) =>
        All.Where(s => string.Equals(s.ToString(), value, StringComparison.OrdinalIgnoreCase)).Select(s => (DocumentStatus?)s).FirstOrDefault();
}
