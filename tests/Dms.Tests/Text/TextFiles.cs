using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Dms.Tests.Text;

/// <summary>Real files made at test time: PDFs written by hand, Office packages zipped by hand, scans rendered by pdftoppm.</summary>
internal static class TextFiles
{
    /// <summary>A PDF of <paramref name="pages"/> pages sharing one content stream: the lines in Helvetica, or a drawn line only (no text layer).</summary>
    public static byte[] Pdf(IReadOnlyList<string>? lines, int pages = 1)
    {
        var content = lines is null
            ? "0.5 w 72 72 m 300 300 l S"
            : "BT /F1 28 Tf 72 700 Td 36 TL " + string.Concat(lines.Select(l => $"({l}) Tj T* ")) + "ET";
        var objects = new List<byte[]>
        {
            Ascii("<< /Type /Catalog /Pages 2 0 R >>"),
            Ascii($"<< /Type /Pages /Kids [{string.Join(' ', Enumerable.Range(5, pages).Select(n => $"{n} 0 R"))}] /Count {pages} >>"),
            Ascii("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
            Stream("", Ascii(content)),
        };
        for (var i = 0; i < pages; i++)
        {
            objects.Add(Ascii("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"));
        }
        return Assemble(objects);
    }

    /// <summary>A scanned PDF: one page that is only an image (8-bit gray), no text layer.</summary>
    public static byte[] ScannedPdf(int width, int height, byte[] gray)
    {
        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(gray);
        }
        var objects = new List<byte[]>
        {
            Ascii("<< /Type /Catalog /Pages 2 0 R >>"),
            Ascii("<< /Type /Pages /Kids [5 0 R] /Count 1 >>"),
            Stream($"/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", compressed.ToArray()),
            Stream("", Ascii("q 612 0 0 792 0 0 cm /Im1 Do Q")),
            Ascii("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im1 3 0 R >> >> /Contents 4 0 R >>"),
        };
        return Assemble(objects);
    }

    private static byte[] Stream(string dictionary, byte[] data) =>
        [.. Ascii($"<< {dictionary} /Length {data.Length} >>\nstream\n"), .. data, .. Ascii("\nendstream")];

    private static byte[] Assemble(List<byte[]> objects)
    {
        var pdf = new MemoryStream();
        pdf.Write(Ascii("%PDF-1.4\n"));
        var offsets = new List<long>();
        for (var i = 0; i < objects.Count; i++)
        {
            offsets.Add(pdf.Position);
            pdf.Write(Ascii($"{i + 1} 0 obj\n"));
            pdf.Write(objects[i]);
            pdf.Write(Ascii("\nendobj\n"));
        }
        var xref = pdf.Position;
        var table = new StringBuilder($"xref\n0 {objects.Count + 1}\n0000000000 65535 f \n");
        foreach (var offset in offsets)
        {
            table.Append(CultureInfo.InvariantCulture, $"{offset:D10} 00000 n \n");
        }
        table.Append(CultureInfo.InvariantCulture, $"trailer\n<< /Size {objects.Count + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n");
        pdf.Write(Ascii(table.ToString()));
        return pdf.ToArray();
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    /// <summary>Renders page 1 of <paramref name="pdf"/> with pdftoppm: PNG bytes, or raw gray pixels (from PGM).</summary>
    public static async Task<byte[]> RenderAsync(byte[] pdf, string format, int dpi)
    {
        var directory = Directory.CreateTempSubdirectory("dms-test-render-");
        try
        {
            var input = Path.Combine(directory.FullName, "in.pdf");
            await File.WriteAllBytesAsync(input, pdf);
            var start = new ProcessStartInfo("pdftoppm") { RedirectStandardError = true };
            // -gray alone writes PGM; -png writes PNG.
            foreach (var a in (format == "pgm" ? new[] { "-gray" } : [$"-{format}", "-gray"]).Concat(["-r", dpi.ToString(CultureInfo.InvariantCulture), "-singlefile", input, Path.Combine(directory.FullName, "out")]))
            {
                start.ArgumentList.Add(a);
            }
            using var process = System.Diagnostics.Process.Start(start)!;
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"pdftoppm failed: {await process.StandardError.ReadToEndAsync()}");
            }
            return await File.ReadAllBytesAsync(Directory.GetFiles(directory.FullName, "out.*").Single());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Width, height and pixels of a binary PGM (P5, maxval 255).</summary>
    public static (int Width, int Height, byte[] Pixels) ParsePgm(byte[] pgm)
    {
        var fields = new List<string>();
        var i = 2;
        while (fields.Count < 3)
        {
            while (char.IsWhiteSpace((char)pgm[i]))
            {
                i++;
            }
            var start = i;
            while (!char.IsWhiteSpace((char)pgm[i]))
            {
                i++;
            }
            fields.Add(Encoding.ASCII.GetString(pgm, start, i - start));
        }
        i++;
        int width = int.Parse(fields[0], CultureInfo.InvariantCulture), height = int.Parse(fields[1], CultureInfo.InvariantCulture);
        return (width, height, pgm[i..(i + width * height)]);
    }

    public static byte[] Docx(params string[] paragraphs) => Zip(
        ("[Content_Types].xml", ContentTypes("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")),
        ("_rels/.rels", Rels("word/document.xml")),
        ("word/document.xml", $"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{string.Concat(paragraphs.Select(p => $"<w:p><w:r><w:t xml:space=\"preserve\">{p}</w:t></w:r></w:p>"))}</w:body></w:document>"""));

    public static byte[] Xlsx(string shared, string inline, double number) => Zip(
        ("[Content_Types].xml", ContentTypes("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")),
        ("_rels/.rels", Rels("xl/workbook.xml")),
        ("xl/workbook.xml", """<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"""),
        ("xl/sharedStrings.xml", $"""<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2"><si><t>Header</t></si><si><t>{shared}</t></si></sst>"""),
        ("xl/worksheets/sheet1.xml", $"""<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="inlineStr"><is><t>{inline}</t></is></c><c r="C2"><v>{number.ToString(CultureInfo.InvariantCulture)}</v></c></row></sheetData></worksheet>"""));

    public static byte[] Pptx(string text) => Zip(
        ("[Content_Types].xml", ContentTypes("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")),
        ("_rels/.rels", Rels("ppt/presentation.xml")),
        ("ppt/slides/slide1.xml", $"""<?xml version="1.0" encoding="UTF-8"?><p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"""));

    public static byte[] Odt(string text) => Odf("application/vnd.oasis.opendocument.text",
        $"<office:text><text:h>Heading</text:h><text:p>{text}<text:s text:c=\"2\"/>end</text:p></office:text>");

    public static byte[] Ods(string text) => Odf("application/vnd.oasis.opendocument.spreadsheet",
        $"<office:spreadsheet><table:table><table:table-row><table:table-cell><text:p>{text}</text:p></table:table-cell><table:table-cell><text:p>42</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet>");

    private static byte[] Odf(string mediaType, string body)
    {
        var content = $"""<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"><office:automatic-styles/><office:body>{body}</office:body></office:document-content>""";
        var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            // ODF: "mimetype" first and stored, so the type is readable at a fixed offset.
            Write(zip.CreateEntry("mimetype", CompressionLevel.NoCompression), mediaType);
            Write(zip.CreateEntry("content.xml"), content);
            Write(zip.CreateEntry("META-INF/manifest.xml"), $"""<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="{mediaType}"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>""");
        }
        return buffer.ToArray();
    }

    /// <summary>A "DOCX" whose document part is <paramref name="unpackedBytes"/> of spaces: about a thousandth of that on disk.</summary>
    public static byte[] ZipBombDocx(long unpackedBytes)
    {
        var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            Write(zip.CreateEntry("[Content_Types].xml"), ContentTypes("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"));
            using var part = zip.CreateEntry("word/document.xml", CompressionLevel.Fastest).Open();
            part.Write("<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"u8);
            var spaces = new byte[1 << 20];
            Array.Fill(spaces, (byte)' ');
            for (long written = 0; written < unpackedBytes; written += spaces.Length)
            {
                part.Write(spaces);
            }
            part.Write("</w:document>"u8);
        }
        return buffer.ToArray();
    }

    private static byte[] Zip(params (string Name, string Content)[] entries)
    {
        var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                Write(zip.CreateEntry(name), content);
            }
        }
        return buffer.ToArray();
    }

    private static void Write(ZipArchiveEntry entry, string content)
    {
        using var stream = entry.Open();
        stream.Write(Encoding.UTF8.GetBytes(content));
    }

    private static string ContentTypes(string main, string type) =>
        $"""<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/{main}" ContentType="{type}"/></Types>""";

    private static string Rels(string main) =>
        $"""<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{main}"/></Relationships>""";
}
