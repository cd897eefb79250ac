using System.Text;

namespace Dms.Modules.Documents.Domain;

/// <summary>
/// The file types a tenant may store, recognised by their content (magic bytes), which must agree with
/// the file name's extension. The stored content type is ours, never the one the client declared.
/// </summary>
internal sealed record FileKind(string Name, string ContentType, string[] Extensions, Func<ReadOnlyMemory<byte>, bool> Matches)
{
    /// <summary>How many leading bytes are enough to recognise every kind.</summary>
    public const int SniffLength = 8192;

    public static readonly IReadOnlyList<FileKind> All =
    [
        new("pdf", "application/pdf", [".pdf"], h => IndexOf(h.Span[..Math.Min(h.Length, 1024)], "%PDF-"u8) >= 0),
        new("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", [".docx"], IsOoxml),
        new("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", [".xlsx"], IsOoxml),
        new("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", [".pptx"], IsOoxml),
        new("odt", "application/vnd.oasis.opendocument.text", [".odt"], h => IsOdf(h, "application/vnd.oasis.opendocument.text")),
        new("ods", "application/vnd.oasis.opendocument.spreadsheet", [".ods"], h => IsOdf(h, "application/vnd.oasis.opendocument.spreadsheet")),
        new("txt", "text/plain; charset=utf-8", [".txt", ".text", ".log"], IsUtf8Text),
        new("csv", "text/csv; charset=utf-8", [".csv"], IsUtf8Text),
        new("md", "text/markdown; charset=utf-8", [".md", ".markdown"], IsUtf8Text),
        new("png", "image/png", [".png"], h => h.Span.StartsWith(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A })),
        new("jpeg", "image/jpeg", [".jpg", ".jpeg"], h => h.Span.StartsWith(new byte[] { 0xFF, 0xD8, 0xFF })),
        new("tiff", "image/tiff", [".tif", ".tiff"], h => h.Span.StartsWith("II*\0"u8) || h.Span.StartsWith("MM\0*"u8)),
    ];

    /// <summary>
    /// The kind of a file from its name and first bytes, under the tenant's allowed kinds: the kind, or
    /// the reason it is refused (<c>type_not_allowed</c> for the name, <c>content_mismatch</c> for the bytes).
    /// </summary>
    public static (FileKind? Kind, string? Refusal) Classify(string fileName, ReadOnlyMemory<byte> head, IReadOnlyList<string> allowed)
    {
        var kind = ForExtension(fileName);
        if (kind is null || !allowed.Contains(kind.Name, StringComparer.OrdinalIgnoreCase))
        {
            return (null, "type_not_allowed");
        }
        return kind.Matches(head) ? (kind, null) : (null, "content_mismatch");
    }

    public static FileKind? ForExtension(string fileName)
    {
        var extension = Path.GetExtension(fileName).ToLowerInvariant();
        return All.FirstOrDefault(k => k.Extensions.Contains(extension));
    }

    private static readonly byte[] ZipLocalHeader = [0x50, 0x4B, 0x03, 0x04];

    // Office Open XML packages are zips whose first entries name the package parts.
    private static bool IsOoxml(ReadOnlyMemory<byte> head) =>
        head.Span.StartsWith(ZipLocalHeader) && !IsOdf(head, "application/vnd.oasis.opendocument") &&
        (IndexOf(head.Span, "[Content_Types].xml"u8) >= 0 || IndexOf(head.Span, "_rels/"u8) >= 0 ||
         IndexOf(head.Span, "word/"u8) >= 0 || IndexOf(head.Span, "xl/"u8) >= 0 || IndexOf(head.Span, "ppt/"u8) >= 0 ||
         IndexOf(head.Span, "docProps/"u8) >= 0);

    // OpenDocument requires an uncompressed first entry "mimetype" holding the media type (ODF 1.2, part 3, 3.3).
    private static bool IsOdf(ReadOnlyMemory<byte> head, string mediaTypePrefix)
    {
        var span = head.Span;
        if (!span.StartsWith(ZipLocalHeader) || span.Length < 38 + mediaTypePrefix.Length)
        {
            return false;
        }
        return span.Slice(30, 8).SequenceEqual("mimetype"u8) && span.Slice(38, mediaTypePrefix.Length).SequenceEqual(Encoding.ASCII.GetBytes(mediaTypePrefix));
    }

    // Text is UTF-8 without NUL bytes; a multi-byte character cut by the end of the sample is fine.
    private static bool IsUtf8Text(ReadOnlyMemory<byte> head)
    {
        var span = head.Span;
        if (span.IndexOf((byte)0) >= 0)
        {
            return false;
        }
        var decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
        try
        {
            var chars = new char[span.Length + 1];
            decoder.GetChars(span, chars, flush: span.Length < SniffLength);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static int IndexOf(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) => haystack.IndexOf(needle);
}
