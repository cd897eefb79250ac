using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using Dms.Platform;

namespace Dms.Modules.Documents.Text;

/// <summary>
/// Reads the text of Office files (OOXML docx/xlsx/pptx, ODF odt/ods/odp) with the zip and XML readers of the base
/// library, streaming part by part. It runs in a child process of its own (<c>dms extract-office</c>, ADR 0017), so a
/// hostile file costs that process's memory and time, never the server's. Zip bombs stop at the unpacked-size cap,
/// counted on the bytes actually inflated (an entry's declared size can lie).
/// </summary>
internal static partial class OfficeText
{
    public const string Verb = "extract-office";

    /// <summary>Exit codes the parent maps to our own words.</summary>
    public const int Unreadable = 2;
    public const int TooLarge = 3;

    private const int MaxEntries = 10_000;

    /// <summary>
    /// <c>dms extract-office &lt;path&gt; &lt;kind&gt; &lt;maxChars&gt; &lt;maxUnpackedBytes&gt;</c>: writes the text (UTF-8) to
    /// standard output, at most maxChars + 1 characters so the parent can tell it was cut.
    /// </summary>
    public static async Task<int> RunChildAsync(string[] args)
    {
        if (args.Length != 5 || !int.TryParse(args[3], out var maxChars) || !long.TryParse(args[4], out var maxUnpacked))
        {
            await Console.Error.WriteLineAsync($"usage: dms {Verb} <path> <kind> <maxChars> <maxUnpackedBytes>");
            return 64;
        }
        var stdout = Console.OpenStandardOutput();
        await using var output = new StreamWriter(stdout, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 65536);
        var sink = new TextSink(output, maxChars + 1);
        try
        {
            Extract(args[1], args[2], sink, maxUnpacked);
            return 0;
        }
        catch (SinkFullException)
        {
            return 0;
        }
        catch (UnpackedTooLargeException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return TooLarge;
        }
        catch (Exception ex) when (ex is InvalidDataException or XmlException or IOException or FormatException or NotSupportedException)
        {
            await Console.Error.WriteLineAsync($"{ex.GetType().Name}: {ex.Message}");
            return Unreadable;
        }
    }

    internal static void Extract(string path, string kind, TextSink sink, long maxUnpacked)
    {
        using var file = File.OpenRead(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Read);
        if (zip.Entries.Count > MaxEntries)
        {
            throw new UnpackedTooLargeException($"The archive has {zip.Entries.Count} entries (more than {MaxEntries}).");
        }
        var budget = new UnpackBudget(maxUnpacked);
        switch (kind)
        {
            case "docx":
                foreach (var entry in Parts(zip, WordParts()))
                {
                    ReadRuns(entry, budget, sink);
                }
                break;
            case "pptx":
                foreach (var entry in Parts(zip, SlideParts()))
                {
                    ReadRuns(entry, budget, sink);
                }
                break;
            case "xlsx":
                ReadWorkbook(zip, budget, sink);
                break;
            case "odt" or "ods" or "odp":
                ReadOdf(zip.GetEntry("content.xml") ?? throw new InvalidDataException("content.xml is missing."), budget, sink);
                break;
            default:
                throw new NotSupportedException($"'{kind}' is not an Office kind.");
        }
    }

    [GeneratedRegex(@"^word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml$")]
    private static partial Regex WordParts();

    [GeneratedRegex(@"^ppt/slides/slide\d+\.xml$")]
    private static partial Regex SlideParts();

    [GeneratedRegex(@"^xl/worksheets/sheet\d+\.xml$")]
    private static partial Regex SheetParts();

    /// <summary>The entries whose names match, the body first, then in their number's order (slide2 before slide10).</summary>
    private static IEnumerable<ZipArchiveEntry> Parts(ZipArchive zip, Regex names) =>
        zip.Entries.Where(e => names.IsMatch(e.FullName))
            .OrderBy(e => e.FullName.Contains("/document.xml", StringComparison.Ordinal) ? 0 : 1)
            .ThenBy(e => NumberIn(e.FullName))
            .ThenBy(e => e.FullName, StringComparer.Ordinal);

    private static int NumberIn(string name)
    {
        var digits = new string(Path.GetFileNameWithoutExtension(name).Where(char.IsAsciiDigit).ToArray());
        return int.TryParse(digits, out var n) ? n : 0;
    }

    /// <summary>WordprocessingML and DrawingML runs: text in <c>t</c>, breaks and tabs, a line per paragraph.</summary>
    private static void ReadRuns(ZipArchiveEntry entry, UnpackBudget budget, TextSink sink)
    {
        using var reader = Open(entry, budget);
        var inText = false;
        while (reader.Read())
        {
            switch (reader.NodeType)
            {
                case XmlNodeType.Element:
                    switch (reader.LocalName)
                    {
                        // Text boxes appear twice (modern and fallback markup): read one.
                        case "Fallback":
                            reader.Skip();
                            break;
                        case "t":
                            inText = !reader.IsEmptyElement;
                            break;
                        case "tab":
                            sink.Append('\t');
                            break;
                        case "br" or "cr":
                            sink.Append('\n');
                            break;
                    }
                    break;
                case XmlNodeType.EndElement:
                    if (reader.LocalName == "t")
                    {
                        inText = false;
                    }
                    else if (reader.LocalName == "p")
                    {
                        sink.Append('\n');
                    }
                    break;
                case XmlNodeType.Text or XmlNodeType.SignificantWhitespace or XmlNodeType.Whitespace or XmlNodeType.CDATA when inText:
                    sink.Append(reader.Value);
                    break;
            }
        }
    }

    /// <summary>Each sheet's rows, cells separated by tabs; shared strings resolved (kept up to the output cap).</summary>
    private static void ReadWorkbook(ZipArchive zip, UnpackBudget budget, TextSink sink)
    {
        var shared = new List<string>();
        if (zip.GetEntry("xl/sharedStrings.xml") is { } strings)
        {
            using var reader = Open(strings, budget);
            var current = new StringBuilder();
            long kept = 0;
            var inText = false;
            while (reader.Read())
            {
                if (reader.NodeType == XmlNodeType.Element && reader.LocalName == "rPh")
                {
                    reader.Skip(); // phonetic guides repeat the text
                    continue;
                }
                if (reader.NodeType == XmlNodeType.Element && reader.LocalName == "t")
                {
                    inText = !reader.IsEmptyElement;
                }
                else if (reader.NodeType == XmlNodeType.EndElement && reader.LocalName == "t")
                {
                    inText = false;
                }
                else if (reader.NodeType == XmlNodeType.EndElement && reader.LocalName == "si")
                {
                    kept += current.Length;
                    shared.Add(kept <= sink.Capacity ? current.ToString() : "");
                    current.Clear();
                }
                else if (inText && reader.NodeType is XmlNodeType.Text or XmlNodeType.SignificantWhitespace or XmlNodeType.Whitespace or XmlNodeType.CDATA)
                {
                    current.Append(reader.Value);
                }
            }
        }
        foreach (var sheet in Parts(zip, SheetParts()))
        {
            using var reader = Open(sheet, budget);
            string? type = null;
            var value = new StringBuilder();
            var inValue = false;
            var firstCell = true;
            while (reader.Read())
            {
                if (reader.NodeType == XmlNodeType.Element)
                {
                    switch (reader.LocalName)
                    {
                        case "c":
                            type = reader.GetAttribute("t");
                            value.Clear();
                            break;
                        case "v" or "t":
                            inValue = !reader.IsEmptyElement;
                            break;
                    }
                }
                else if (reader.NodeType == XmlNodeType.EndElement)
                {
                    switch (reader.LocalName)
                    {
                        case "v" or "t":
                            inValue = false;
                            break;
                        case "c":
                            var text = type == "s" && int.TryParse(value.ToString(), out var index) && index >= 0 && index < shared.Count
                                ? shared[index]
                                : value.ToString();
                            if (text.Length > 0)
                            {
                                if (!firstCell)
                                {
                                    sink.Append('\t');
                                }
                                sink.Append(text);
                                firstCell = false;
                            }
                            break;
                        case "row":
                            if (!firstCell)
                            {
                                sink.Append('\n');
                            }
                            firstCell = true;
                            break;
                    }
                }
                else if (inValue && reader.NodeType is XmlNodeType.Text or XmlNodeType.SignificantWhitespace or XmlNodeType.Whitespace or XmlNodeType.CDATA)
                {
                    value.Append(reader.Value);
                }
            }
            sink.Append('\n');
        }
    }

    /// <summary>ODF content.xml: paragraphs and headings a line each, table cells by tabs, <c>text:s</c>/<c>tab</c>/<c>line-break</c> honoured.</summary>
    private static void ReadOdf(ZipArchiveEntry content, UnpackBudget budget, TextSink sink)
    {
        const string textNs = "urn:oasis:names:tc:opendocument:xmlns:text:1.0";
        const string tableNs = "urn:oasis:names:tc:opendocument:xmlns:table:1.0";
        const string officeNs = "urn:oasis:names:tc:opendocument:xmlns:office:1.0";
        using var reader = Open(content, budget);
        var inBody = false;
        var cellDepth = 0;
        var paragraphDepth = 0;
        while (reader.Read())
        {
            if (reader.NodeType == XmlNodeType.Element)
            {
                if (reader.NamespaceURI == officeNs && reader.LocalName == "body")
                {
                    inBody = true;
                }
                else if (reader.NamespaceURI == textNs)
                {
                    switch (reader.LocalName)
                    {
                        case "p" or "h" when !reader.IsEmptyElement:
                            paragraphDepth++;
                            break;
                        case "s":
                            var count = int.TryParse(reader.GetAttribute("c", textNs), out var c) ? Math.Clamp(c, 1, 100) : 1;
                            sink.Append(new string(' ', count));
                            break;
                        case "tab":
                            sink.Append('\t');
                            break;
                        case "line-break":
                            sink.Append('\n');
                            break;
                    }
                }
                else if (reader.NamespaceURI == tableNs && reader.LocalName == "table-cell" && !reader.IsEmptyElement)
                {
                    cellDepth++;
                }
            }
            else if (reader.NodeType == XmlNodeType.EndElement)
            {
                if (reader.NamespaceURI == textNs && reader.LocalName is "p" or "h")
                {
                    paragraphDepth--;
                    sink.Append(cellDepth > 0 ? ' ' : '\n');
                }
                else if (reader.NamespaceURI == tableNs && reader.LocalName == "table-cell")
                {
                    cellDepth--;
                    sink.Append('\t');
                }
                else if (reader.NamespaceURI == tableNs && reader.LocalName == "table-row")
                {
                    sink.Append('\n');
                }
            }
            else if (inBody && reader.NodeType is XmlNodeType.Text or XmlNodeType.CDATA)
            {
                sink.Append(reader.Value);
            }
            else if (inBody && paragraphDepth > 0 && reader.NodeType is XmlNodeType.SignificantWhitespace or XmlNodeType.Whitespace)
            {
                sink.Append(' ');
            }
        }
    }

    private static XmlReader Open(ZipArchiveEntry entry, UnpackBudget budget)
    {
        budget.Check(entry);
        var settings = new XmlReaderSettings
        {
            // No DTDs (billion laughs) and no external resources.
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            CloseInput = true,
            IgnoreComments = true,
            IgnoreProcessingInstructions = true,
        };
        return XmlReader.Create(new CountingStream(entry.Open(), budget), settings);
    }

    /// <summary>The unpacked bytes still allowed, over all entries read.</summary>
    private sealed class UnpackBudget(long max)
    {
        private long _used;

        public long Max => max;

        /// <summary>Refuses at once an entry that says it is too large, or that inflates more than 1000:1 beyond a few MiB.</summary>
        public void Check(ZipArchiveEntry entry)
        {
            if (entry.Length > max - _used || (entry.Length > 8 * 1024 * 1024 && entry.Length > entry.CompressedLength * 1000))
            {
                throw new UnpackedTooLargeException($"{entry.FullName} unpacks to {entry.Length} bytes from {entry.CompressedLength}.");
            }
        }

        public void Use(int bytes)
        {
            _used += bytes;
            if (_used > max)
            {
                throw new UnpackedTooLargeException($"The file unpacks to more than {max} bytes.");
            }
        }
    }

    private sealed class CountingStream(Stream inner, UnpackBudget budget) : ReadOnlyStream
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            budget.Use(read);
            return read;
        }


        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class UnpackedTooLargeException(string message) : Exception(message);

    private sealed class SinkFullException : Exception;

    /// <summary>Writes text until <see cref="Capacity"/> characters, then stops the reading (the rest is never inflated).</summary>
    internal sealed class TextSink(TextWriter writer, long capacity)
    {
        private long _written;

        public long Capacity => capacity;

        public void Append(char c)
        {
            if (_written >= capacity)
            {
                throw new SinkFullException();
            }
            writer.Write(c);
            _written++;
        }

        public void Append(string text)
        {
            var room = capacity - _written;
            if (room <= 0)
            {
                throw new SinkFullException();
            }
            var part = text.Length <= room ? text : text[..(int)room];
            writer.Write(part);
            _written += part.Length;
            if (part.Length < text.Length)
            {
                throw new SinkFullException();
            }
        }
    }
}
