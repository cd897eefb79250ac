using System.Text;
using Dms.Modules.Documents.Domain;
using Shouldly;
using Xunit;

namespace Dms.Tests.Unit;

public sealed class FileKindTests
{
    private static bool Accepts(string fileName, byte[] head) => FileKind.ForExtension(fileName) is { } kind && kind.Matches(head);

    [Theory]
    [InlineData("a.pdf", "%PDF-1.4\n")]
    [InlineData("A.PDF", "%PDF-2.0")]
    [InlineData("notes.txt", "plain text\nwith lines")]
    [InlineData("data.csv", "a,b\n1,2\n")]
    [InlineData("readme.md", "# Title\n\nÜnïcödé ✓")]
    [InlineData("empty.txt", "")]
    public void Recognises_text_and_pdf(string fileName, string content) =>
        Accepts(fileName, Encoding.UTF8.GetBytes(content)).ShouldBeTrue();

    [Fact]
    public void Recognises_images_by_their_signatures()
    {
        Accepts("a.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]).ShouldBeTrue();
        Accepts("a.jpg", [0xFF, 0xD8, 0xFF, 0xE0]).ShouldBeTrue();
        Accepts("a.jpeg", [0xFF, 0xD8, 0xFF, 0xE1]).ShouldBeTrue();
        Accepts("a.tif", [0x49, 0x49, 0x2A, 0x00]).ShouldBeTrue();
        Accepts("a.tiff", [0x4D, 0x4D, 0x00, 0x2A]).ShouldBeTrue();
        Accepts("a.png", [0xFF, 0xD8, 0xFF, 0xE0]).ShouldBeFalse();
    }

    [Fact]
    public void Tells_opendocument_from_office_open_xml()
    {
        var odt = Zip("mimetype", "application/vnd.oasis.opendocument.text");
        var ods = Zip("mimetype", "application/vnd.oasis.opendocument.spreadsheet");
        var docx = Zip("[Content_Types].xml", "<Types/>");
        Accepts("a.odt", odt).ShouldBeTrue();
        Accepts("a.ods", odt).ShouldBeFalse();
        Accepts("a.ods", ods).ShouldBeTrue();
        Accepts("a.docx", docx).ShouldBeTrue();
        Accepts("a.xlsx", docx).ShouldBeTrue();
        Accepts("a.docx", odt).ShouldBeFalse();
        Accepts("a.docx", Zip("random.bin", "xx")).ShouldBeFalse();
    }

    [Theory]
    [InlineData("a.txt", new byte[] { 0x48, 0x00, 0x49 })]
    [InlineData("a.txt", new byte[] { 0xC3, 0x28 })]
    [InlineData("a.csv", new byte[] { 0xFF, 0xFE, 0x41 })]
    [InlineData("a.pdf", new byte[] { 0x4D, 0x5A })]
    [InlineData("a.exe", new byte[] { 0x4D, 0x5A })]
    [InlineData("a.html", new byte[] { 0x3C, 0x68 })]
    [InlineData("a.svg", new byte[] { 0x3C, 0x73 })]
    [InlineData("noextension", new byte[] { 0x25, 0x50, 0x44, 0x46, 0x2D })]
    public void Rejects_binary_text_wrong_signatures_and_unknown_extensions(string fileName, byte[] head) =>
        Accepts(fileName, head).ShouldBeFalse();

    [Fact]
    public void A_multibyte_character_cut_at_the_end_of_the_sample_is_still_text()
    {
        var head = new byte[FileKind.SniffLength];
        Array.Fill(head, (byte)'a');
        head[^1] = 0xE2; // first byte of a three-byte sequence, cut by the sample's end
        Accepts("a.txt", head).ShouldBeTrue();
    }

    private static byte[] Zip(string firstEntry, string content)
    {
        var name = Encoding.ASCII.GetBytes(firstEntry);
        var data = Encoding.ASCII.GetBytes(content);
        var header = new byte[30];
        new byte[] { 0x50, 0x4B, 0x03, 0x04 }.CopyTo(header, 0);
        header[26] = (byte)name.Length;
        return [.. header, .. name, .. data];
    }
}
