using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Processes;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Text;

/// <summary>What reading one file gave: the row's new status, how it was read, the text, and the reason in our words.</summary>
internal sealed record Extraction(TextStatus Status, TextMethod? Method, string? Content, bool Truncated, string? Reason)
{
    public static Extraction Failed(string reason, TextMethod? method = null) => new(TextStatus.Failed, method, null, false, reason);
}

/// <summary>
/// Picks the reader for a stored content type and runs it in child processes under the limits of
/// <see cref="ExtractionOptions"/>: pdftotext (then pdftoppm + tesseract when the PDF has no text layer), tesseract for
/// images, this program's own <c>extract-office</c> verb for Office files, and a capped read for plain text.
/// </summary>
internal sealed class TextExtractor(IOptions<ExtractionOptions> options, ExternalTools tools, ILogger<TextExtractor> logger)
{
    private const string Poppler = "poppler-utils";

    // A PDF whose text layer has fewer letters than this is treated as scanned.
    private const int NearEmpty = 16;

    private static readonly ConcurrentDictionary<string, bool> Logged = new(StringComparer.Ordinal);
    private Task<(string? Languages, string? Missing)>? _ocrLanguages;
    private readonly Lock _gate = new();

    private ExtractionOptions Settings => options.Value;

    public async Task<Extraction> ExtractAsync(string path, string contentType, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        var budget = new Budget(Settings.Timeout, stopwatch);
        var mediaType = contentType.Split(';')[0].Trim().ToLowerInvariant();
        var kind = FileKind.All.FirstOrDefault(k => k.ContentType.Split(';')[0].Equals(mediaType, StringComparison.OrdinalIgnoreCase));
        var result = kind?.Name switch
        {
            "pdf" => await PdfAsync(path, budget, ct),
            "png" or "jpeg" or "tiff" => await ImageAsync(path, budget, ct),
            "docx" or "xlsx" or "pptx" or "odt" or "ods" or "odp" => await OfficeAsync(path, kind.Name, budget, ct),
            "txt" or "csv" or "md" => await PlainAsync(path, ct),
            _ => new Extraction(TextStatus.Unsupported, null, null, false, "This file type is not read."),
        };
        logger.LogInformation("Text extraction of a {Kind} took {Elapsed} ms: {Status} ({Method})", kind?.Name ?? mediaType,
            stopwatch.ElapsedMilliseconds, result.Status, result.Method);
        return result;
    }

    // ---- PDF ----

    private async Task<Extraction> PdfAsync(string path, Budget budget, CancellationToken ct)
    {
        if (Missing("pdftotext", Poppler) is { } unavailable)
        {
            return unavailable;
        }
        var run = await RunAsync("pdftotext", ["-enc", "UTF-8", "-nopgbrk", path, "-"], budget, OutputBytes, ct);
        if (run.TimedOut)
        {
            return TimedOut(TextMethod.TextLayer);
        }
        if (!run.Succeeded && !run.OutputTruncated)
        {
            return Extraction.Failed($"The PDF could not be read: pdftotext failed (exit code {run.ExitCode}).", TextMethod.TextLayer);
        }
        var text = Clean(run.OutputText, out var truncated);
        if (CountLetters(text) >= NearEmpty)
        {
            return Done(TextMethod.TextLayer, text, truncated || run.OutputTruncated);
        }
        return await ScannedPdfAsync(path, budget, ct);
    }

    /// <summary>A PDF without a text layer: the first <c>MaxOcrPages</c> pages are rendered and OCRed one by one.</summary>
    private async Task<Extraction> ScannedPdfAsync(string path, Budget budget, CancellationToken ct)
    {
        if (Missing("pdftoppm", Poppler) is { } unavailable)
        {
            return unavailable;
        }
        var (languages, ocrMissing) = await OcrLanguagesAsync();
        if (ocrMissing is not null)
        {
            return new Extraction(TextStatus.Unavailable, TextMethod.Ocr, null, false, ocrMissing);
        }
        var pages = await PageCountAsync(path, budget, ct);
        var directory = Path.Combine(Path.GetDirectoryName(path)!, "pages");
        Directory.CreateDirectory(directory);
        var render = await RunAsync("pdftoppm", ["-r", "200", "-gray", "-png", "-l", Settings.MaxOcrPages.ToString(CultureInfo.InvariantCulture), path,
            Path.Combine(directory, "page")], budget, 4096, ct);
        if (render.TimedOut)
        {
            return TimedOut(TextMethod.Ocr);
        }
        if (!render.Succeeded)
        {
            return Extraction.Failed($"The PDF could not be read: pdftoppm failed (exit code {render.ExitCode}).", TextMethod.Ocr);
        }
        var text = new StringBuilder();
        var images = Directory.GetFiles(directory, "page*.png").Order(StringComparer.Ordinal).ToList();
        var read = 0;
        foreach (var image in images)
        {
            var page = await RunAsync("tesseract", [image, "-", "-l", languages!], budget, OutputBytes, ct, OcrEnvironment);
            if (page.TimedOut)
            {
                // Pages already read are kept: a long scan gives its first pages rather than nothing.
                return read == 0 ? TimedOut(TextMethod.Ocr) : Partial(text.ToString(), $"Only the first {read} pages were read before the time limit ({Seconds} s).");
            }
            if (!page.Succeeded)
            {
                return Extraction.Failed($"The PDF's page {read + 1} could not be read: tesseract failed (exit code {page.ExitCode}).", TextMethod.Ocr);
            }
            text.Append(page.OutputText).Append('\n');
            read++;
            File.Delete(image);
            if (text.Length > Settings.MaxChars)
            {
                break;
            }
        }
        if (pages > read && read == Settings.MaxOcrPages)
        {
            return Partial(text.ToString(), $"Only the first {read} of {pages} pages were read by OCR (the limit is {Settings.MaxOcrPages}).");
        }
        var cleaned = Clean(text.ToString(), out var truncated);
        return Done(TextMethod.Ocr, cleaned, truncated);
    }

    private async Task<int?> PageCountAsync(string path, Budget budget, CancellationToken ct)
    {
        if (!tools.Has("pdfinfo"))
        {
            return null;
        }
        var info = await RunAsync("pdfinfo", [path], budget, 64 * 1024, ct);
        var line = info.OutputText.Split('\n').FirstOrDefault(l => l.StartsWith("Pages:", StringComparison.Ordinal));
        return line is not null && int.TryParse(line["Pages:".Length..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    private Extraction Partial(string text, string reason)
    {
        var cleaned = Clean(text, out _);
        return new Extraction(HasText(cleaned) ? TextStatus.Extracted : TextStatus.Empty, TextMethod.Ocr, HasText(cleaned) ? cleaned : null, true, reason);
    }

    // ---- Images ----

    private async Task<Extraction> ImageAsync(string path, Budget budget, CancellationToken ct)
    {
        var (languages, ocrMissing) = await OcrLanguagesAsync();
        if (ocrMissing is not null)
        {
            return new Extraction(TextStatus.Unavailable, TextMethod.Ocr, null, false, ocrMissing);
        }
        var run = await RunAsync("tesseract", [path, "-", "-l", languages!], budget, OutputBytes, ct, OcrEnvironment);
        if (run.TimedOut)
        {
            return TimedOut(TextMethod.Ocr);
        }
        if (!run.Succeeded && !run.OutputTruncated)
        {
            return Extraction.Failed($"The image could not be read: tesseract failed (exit code {run.ExitCode}).", TextMethod.Ocr);
        }
        var text = Clean(run.OutputText, out var truncated);
        return Done(TextMethod.Ocr, text, truncated || run.OutputTruncated);
    }

    // Tesseract's own threads would fight the worker's other child processes for the cores.
    private static readonly Dictionary<string, string> OcrEnvironment = new() { ["OMP_THREAD_LIMIT"] = "1" };

    /// <summary>The configured languages that have data installed, checked once; none at all means OCR is unavailable.</summary>
    private Task<(string? Languages, string? Missing)> OcrLanguagesAsync()
    {
        lock (_gate)
        {
            // Checked once per process, whatever the first caller's cancellation.
            return _ocrLanguages ??= FindLanguagesAsync(CancellationToken.None);
        }
    }

    private async Task<(string?, string?)> FindLanguagesAsync(CancellationToken ct)
    {
        if (Missing("tesseract", "tesseract-ocr") is not null)
        {
            return (null, "OCR is not available on this server (tesseract is not installed).");
        }
        var list = await ChildProcess.RunAsync("tesseract", ["--list-langs"], new ToolLimits(TimeSpan.FromSeconds(20), 64 * 1024, MemoryBytes), ct);
        var installed = list.OutputText.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Skip(1).ToHashSet(StringComparer.Ordinal);
        var wanted = Settings.Languages.Split('+', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var usable = wanted.Where(installed.Contains).ToList();
        foreach (var language in wanted.Except(usable))
        {
            logger.LogWarning("OCR language '{Language}' is configured (Dms:Extraction:Languages) but its data is not installed: install the Debian package tesseract-ocr-{Language}", language, language);
        }
        return usable.Count == 0
            ? (null, $"OCR is not available on this server (no language data for {Settings.Languages} is installed).")
            : (string.Join('+', usable), null);
    }

    // ---- Office ----

    private async Task<Extraction> OfficeAsync(string path, string kind, Budget budget, CancellationToken ct)
    {
        var (program, prefix) = SelfCommand();
        if (program is null)
        {
            return Unavailable(TextMethod.Office, "Office text is not available on this server (the dotnet host was not found).", "dotnet", "dotnet-runtime-10.0");
        }
        var maxUnpacked = (long)Settings.MaxUnpackedMb * 1024 * 1024;
        var heap = (long)Settings.MemoryMb * 1024 * 1024;
        // prlimit's address-space cap does not suit .NET (the runtime reserves far more address space than it uses):
        // the GC's hard limit caps the managed heap, and the address-space cap only stops runaway native memory.
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_GCHeapHardLimit"] = "0x" + heap.ToString("x", CultureInfo.InvariantCulture),
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_TieredPGO"] = "0",
            ["DOTNET_TC_QuickJitForLoops"] = "1",
        };
        var run = await ChildProcess.RunAsync(program, [.. prefix, OfficeText.Verb, path, kind, Settings.MaxChars.ToString(CultureInfo.InvariantCulture),
                maxUnpacked.ToString(CultureInfo.InvariantCulture)],
            new ToolLimits(budget.Remaining, OutputBytes, heap + 4L * 1024 * 1024 * 1024), ct, Path.GetDirectoryName(path), environment);
        if (run.TimedOut)
        {
            return TimedOut(TextMethod.Office);
        }
        if (run.ExitCode == OfficeText.TooLarge)
        {
            return Extraction.Failed($"The file was not read: it unpacks to more than {Settings.MaxUnpackedMb} MB (a possible zip bomb).", TextMethod.Office);
        }
        if (!run.Succeeded && !run.OutputTruncated)
        {
            logger.LogInformation("Office text extraction failed (exit code {ExitCode}): {Error}", run.ExitCode, run.ErrorTail);
            return Extraction.Failed(run.ExitCode == OfficeText.Unreadable
                ? "The file could not be read: it is damaged or not a valid Office document."
                : $"The file could not be read: the Office reader failed (exit code {run.ExitCode}).", TextMethod.Office);
        }
        var text = Clean(run.OutputText, out var truncated);
        return Done(TextMethod.Office, text, truncated || run.OutputTruncated);
    }

    /// <summary>How to start this program again: its apphost, or <c>dotnet Dms.dll</c> (also under a test host).</summary>
    private (string? Program, string[] Prefix) SelfCommand()
    {
        var assembly = typeof(OfficeText).Assembly.Location;
        var host = Environment.ProcessPath;
        if (host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            return (host, [assembly]);
        }
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath) ? hostPath : tools.Find("dotnet");
        return dotnet is null ? (null, []) : (dotnet, [assembly]);
    }

    // ---- Plain text ----

    private async Task<Extraction> PlainAsync(string path, CancellationToken ct)
    {
        // UTF-8 with replacement characters for bad bytes; one character more than the cap says it was cut.
        using var reader = new StreamReader(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true);
        var buffer = new char[Settings.MaxChars + 1];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await reader.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += read;
        }
        var text = Clean(new string(buffer, 0, total), out var truncated);
        return Done(TextMethod.Plain, text, truncated);
    }

    // ---- Shared ----

    private long MemoryBytes => (long)Settings.MemoryMb * 1024 * 1024;

    // UTF-8 needs at most 4 bytes a character; the output cap of a tool follows the character cap.
    private long OutputBytes => (long)Settings.MaxChars * 4 + 4;

    private string Seconds => Settings.Timeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture);

    private Extraction TimedOut(TextMethod method) => Extraction.Failed($"Text extraction timed out after {Seconds} s.", method);

    private Extraction Done(TextMethod method, string text, bool truncated) =>
        HasText(text)
            ? new Extraction(TextStatus.Extracted, method, text, truncated, truncated ? $"Only the first {Settings.MaxChars:N0} characters were kept." : null)
            : new Extraction(TextStatus.Empty, method, null, false, null);

    private async Task<ToolRun> RunAsync(string tool, string[] arguments, Budget budget, long outputBytes, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (budget.Remaining <= TimeSpan.Zero)
        {
            return new ToolRun(-1, [], false, "", TimedOut: true);
        }
        return await ChildProcess.RunAsync(tool, arguments, new ToolLimits(budget.Remaining, outputBytes, MemoryBytes), ct, environment: environment);
    }

    /// <summary>Null when <paramref name="tool"/> is installed; otherwise the Unavailable result, logged once per process.</summary>
    private Extraction? Missing(string tool, string package)
    {
        if (tools.Has(tool))
        {
            return null;
        }
        var method = tool switch { "pdftotext" => TextMethod.TextLayer, "tesseract" or "pdftoppm" => TextMethod.Ocr, _ => (TextMethod?)null };
        var what = tool switch { "pdftotext" => "PDF text", "tesseract" => "OCR", "pdftoppm" => "OCR of scanned PDFs", _ => tool };
        return Unavailable(method, $"{what} is not available on this server ({tool} is not installed).", tool, package);
    }

    private Extraction Unavailable(TextMethod? method, string reason, string tool, string package)
    {
        if (Logged.TryAdd(tool, true))
        {
            logger.LogWarning("{Tool} is not installed: text extraction that needs it is disabled (Debian package: {Package})", tool, package);
        }
        return new Extraction(TextStatus.Unavailable, method, null, false, reason);
    }

    /// <summary>
    /// Cuts at the character cap and keeps only what is safe to store and show: no NUL (PostgreSQL text refuses it), no
    /// U+E000/U+E001 (the search snippet's own markers), no control characters but newline and tab, no lone surrogates.
    /// </summary>
    internal string Clean(string text, out bool truncated) => Clean(text, Settings.MaxChars, out truncated);

    internal static string Clean(string text, int maxChars, out bool truncated)
    {
        var builder = new StringBuilder(Math.Min(text.Length, maxChars));
        truncated = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (builder.Length >= maxChars)
            {
                truncated = true;
                break;
            }
            if (c == '\r')
            {
                if (i + 1 < text.Length && text[i + 1] == '\n')
                {
                    continue;
                }
                builder.Append('\n');
            }
            else if (c is '\n' or '\t')
            {
                builder.Append(c);
            }
            else if (c == '\f')
            {
                builder.Append('\n');
            }
            else if (char.IsControl(c) || c is '\uE000' or '\uE001' or '\uFEFF')
            {
                continue;
            }
            else if (char.IsHighSurrogate(c))
            {
                if (i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    if (builder.Length + 2 > maxChars)
                    {
                        truncated = true;
                        break;
                    }
                    builder.Append(c).Append(text[++i]);
                }
                else
                {
                    builder.Append('\uFFFD');
                }
            }
            else if (char.IsLowSurrogate(c))
            {
                builder.Append('\uFFFD');
            }
            else
            {
                builder.Append(c);
            }
        }
        return builder.ToString();
    }

    private static bool HasText(string text) => text.Any(c => !char.IsWhiteSpace(c));

    private static int CountLetters(string text) => text.Count(char.IsLetterOrDigit);

    /// <summary>What is left of the per-version time limit.</summary>
    private sealed class Budget(TimeSpan total, Stopwatch stopwatch)
    {
        public TimeSpan Remaining => total - stopwatch.Elapsed;
    }
}
