namespace Dms.Modules.Documents.Text;

/// <summary>Limits and languages of text extraction (<c>Dms:Extraction:*</c>, e.g. <c>Dms__Extraction__Timeout</c>).</summary>
internal sealed class ExtractionOptions
{
    public const string Section = "Dms:Extraction";

    /// <summary>Wall-clock budget for reading one version, all tool runs together.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Characters kept per version; more is cut and the row says <c>truncated</c>.</summary>
    public int MaxChars { get; set; } = 1_000_000;

    /// <summary>Memory cap of each child process, in MiB.</summary>
    public int MemoryMb { get; set; } = 1024;

    /// <summary>Tesseract languages joined by '+', e.g. <c>eng+deu</c>; ones without installed data are skipped.</summary>
    public string Languages { get; set; } = "eng";

    /// <summary>Pages of a scanned PDF that are OCRed (OCR costs seconds per page).</summary>
    public int MaxOcrPages { get; set; } = 20;

    /// <summary>Bytes an Office file may expand to when unpacked, in MiB (zip bombs stop here).</summary>
    public int MaxUnpackedMb { get; set; } = 256;
}
