using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Processes;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Previews;

/// <summary>
/// <c>document.render_previews</c>: renders a version's thumbnail and (for Office and text files) its PDF preview in
/// child processes with time and memory caps, stores them as blobs and records each outcome. A file the tools cannot
/// read is recorded as Failed with a reason and never retried (it will not get better); storage and database failures
/// throw, so the outbox retries them. Idempotent: a rendition that already ended is left alone.
/// </summary>
internal sealed class RenderPreviewsHandler(Db db, IBlobStore blobs, ExternalTools tools, IOptions<PreviewOptions> options,
    ILogger<RenderPreviewsHandler> logger) : IOutboxHandler
{
    internal const string Vips = "vips";
    internal const string Pdftoppm = "pdftoppm";
    internal const string Soffice = "soffice";
    private const string TurnedOff = "Previews are turned off on this server.";

    // One log line per missing tool per process, not one per document.
    private static readonly ConcurrentDictionary<string, bool> MissingLogged = new(StringComparer.Ordinal);

    public string Type => VersionProcessing.RenderPreviews;

    public OutboxLane Lane => OutboxLane.Previews;

    private sealed record SourceVersion(Guid Id, string BlobKey, string ContentType, DocumentStatus Status);

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var (documentId, number) = message.Read<VersionMessage>();
        var tenant = message.TenantId;
        var (version, existing) = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            var found = await c.QuerySingleOrDefaultAsync<SourceVersion>(new CommandDefinition("""
                SELECT v.id, v.blob_key, v.content_type, d.status FROM document_versions v
                JOIN documents d ON d.tenant_id = v.tenant_id AND d.id = v.document_id
                WHERE v.tenant_id = @tenant AND v.document_id = @documentId AND v.number = @number
                """, new { tenant, documentId, number }, tx, cancellationToken: ct));
            return (found, await Renditions.ForVersionAsync(c, tx, tenant, documentId, number, ct));
        }, ct);
        if (version is null || version.Status == DocumentStatus.Purged)
        {
            return; // Nothing left to render.
        }

        var plan = RenditionPlan.For(version.ContentType);
        var todo = Enum.GetValues<RenditionKind>().Where(k => !existing.TryGetValue(k, out var r) || r.Status == RenditionStatus.Pending).ToList();
        if (todo.Count == 0)
        {
            return;
        }
        var keys = todo.ToDictionary(k => k, k => Renditions.BlobKey(tenant, documentId, version.Id, k));
        await db.InTenantAsync(tenant, async (c, tx) =>
        {
            foreach (var kind in todo)
            {
                if (plan.Needs(kind))
                {
                    await Renditions.StartAsync(c, tx, tenant, documentId, number, kind, keys[kind], ct);
                }
                else
                {
                    await Renditions.FinishAsync(c, tx, tenant, documentId, number, kind, RenditionStatus.Unsupported, null, null, null, ct);
                }
            }
        }, ct);
        todo.RemoveAll(k => !plan.Needs(k));
        if (todo.Count == 0)
        {
            return;
        }
        if (!options.Value.Enabled)
        {
            await db.InTenantAsync(tenant, async (c, tx) =>
            {
                foreach (var kind in todo)
                {
                    await Renditions.FinishAsync(c, tx, tenant, documentId, number, kind, RenditionStatus.Failed, null, null, TurnedOff, ct);
                }
            }, ct);
            return;
        }

        var work = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"dms-render-{Guid.NewGuid():N}"),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var outcomes = await RenderAsync(new Job(tenant, documentId, number, version, plan, todo, existing, work.FullName), ct);
            foreach (var (kind, outcome) in outcomes)
            {
                if (outcome.File is { } file)
                {
                    await using (var content = File.OpenRead(file))
                    {
                        await blobs.PutAsync(keys[kind], content, ct);
                    }
                }
                var purged = await db.InTenantAsync(tenant, async (c, tx) =>
                {
                    // Locked against a purge: either the purge commits first (then the blob just stored is removed
                    // here), or it waits and then lists this rendition's key with the versions' keys.
                    // Read as text: Dapper reads a scalar enum as a number, without the name handler.
                    var document = await c.QuerySingleAsync<string>(new CommandDefinition(
                        "SELECT status FROM documents WHERE tenant_id = @tenant AND id = @documentId FOR SHARE",
                        new { tenant, documentId }, tx, cancellationToken: ct));
                    await Renditions.FinishAsync(c, tx, tenant, documentId, number, kind,
                        outcome.File is null ? RenditionStatus.Failed : RenditionStatus.Ready, outcome.ContentType,
                        outcome.File is { } f ? new FileInfo(f).Length : null, outcome.Error, ct);
                    return document == DocumentStatus.Purged.Db();
                }, ct);
                if (purged && outcome.File is not null)
                {
                    await blobs.DeleteAsync(keys[kind], ct);
                }
            }
        }
        finally
        {
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException ex)
            {
                logger.LogWarning(ex, "Could not remove the rendering directory {Directory}", work.FullName);
            }
        }
    }

    private sealed record Job(Guid Tenant, Guid DocumentId, int Number, SourceVersion Version, RenditionPlan Plan, List<RenditionKind> Todo,
        Dictionary<RenditionKind, Rendition> Existing, string Work);

    /// <summary>A rendered file (with its type), or the reason there is none, in words for users.</summary>
    private sealed record Outcome(string? File, string? ContentType, string? Error)
    {
        public static Outcome Failed(string error) => new(null, null, error);
    }

    private async Task<List<(RenditionKind, Outcome)>> RenderAsync(Job job, CancellationToken ct)
    {
        var results = new List<(RenditionKind, Outcome)>();
        var source = Path.Combine(job.Work, "source" + job.Plan.SourceExtension);
        if (!await DownloadAsync(job.Version.BlobKey, source, ct))
        {
            return [.. job.Todo.Select(k => (k, Outcome.Failed("The stored file could not be read from storage.")))];
        }

        string? previewPdf = null;
        string? previewError = null;
        if (job.Plan.RenderPreview)
        {
            if (job.Todo.Contains(RenditionKind.Preview))
            {
                var preview = await ConvertToPdfAsync(source, job.Work, ct);
                results.Add((RenditionKind.Preview, preview));
                (previewPdf, previewError) = (preview.File, preview.Error);
            }
            else if (job.Existing.TryGetValue(RenditionKind.Preview, out var done) && done is { Status: RenditionStatus.Ready, BlobKey: { } key })
            {
                // A second run after the preview was stored: its first page is still the thumbnail's source.
                previewPdf = Path.Combine(job.Work, "preview.pdf");
                if (!await DownloadAsync(key, previewPdf, ct))
                {
                    previewPdf = null;
                }
            }
            else
            {
                previewError = job.Existing.GetValueOrDefault(RenditionKind.Preview)?.Error;
            }
        }

        if (job.Todo.Contains(RenditionKind.Thumbnail))
        {
            var thumbnail = job.Plan.Thumbnail switch
            {
                ThumbnailSource.Image => await ImageThumbnailAsync(source, job.Version.ContentType, job.Work, ct),
                ThumbnailSource.Pdf => await PdfThumbnailAsync(source, job.Work, ct),
                _ when previewPdf is not null => await PdfThumbnailAsync(previewPdf, job.Work, ct),
                _ => Outcome.Failed($"There is no preview to take the first page from. {previewError}".Trim()),
            };
            results.Add((RenditionKind.Thumbnail, thumbnail));
        }
        return results;
    }

    private async Task<bool> DownloadAsync(string key, string path, CancellationToken ct)
    {
        await using var blob = await blobs.OpenReadAsync(key, 0, null, ct);
        if (blob is null)
        {
            logger.LogWarning("Previews: the blob {BlobKey} is missing from storage", key);
            return false;
        }
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
        await blob.CopyToAsync(file, 81920, ct);
        return true;
    }

    private Task<Outcome> ImageThumbnailAsync(string source, string contentType, string work, CancellationToken ct)
    {
        // Photos stay JPEG (a tenth of a PNG's size); anything else becomes PNG. Never enlarged.
        var jpeg = contentType.StartsWith("image/jpeg", StringComparison.Ordinal);
        var output = Path.Combine(work, jpeg ? "thumbnail.jpg" : "thumbnail.png");
        return RunAsync(Vips, "Thumbnails of images", ["thumbnail", source, jpeg ? output + "[Q=80,strip]" : output + "[strip]",
            options.Value.ThumbnailWidth.ToString(System.Globalization.CultureInfo.InvariantCulture), "--size", "down"],
            work, output, jpeg ? "image/jpeg" : "image/png", "The image could not be read (it may be damaged or in an unsupported variant).", ct);
    }

    private Task<Outcome> PdfThumbnailAsync(string pdf, string work, CancellationToken ct)
    {
        var stem = Path.Combine(work, "thumbnail");
        return RunAsync(Pdftoppm, "Thumbnails of PDFs and Office files", ["-png", "-r", "72", "-f", "1", "-l", "1",
            "-scale-to-x", options.Value.ThumbnailWidth.ToString(System.Globalization.CultureInfo.InvariantCulture), "-scale-to-y", "-1", "-singlefile", pdf, stem],
            work, stem + ".png", "image/png", "The first page could not be drawn (the PDF may be damaged).", ct);
    }

    private Task<Outcome> ConvertToPdfAsync(string source, string work, CancellationToken ct)
    {
        // LibreOffice keeps its settings and a lock in the profile: concurrent runs sharing one collide, so each
        // run gets its own, inside the run's private directory (deleted with it).
        var profile = new Uri(Path.Combine(work, "profile")).AbsoluteUri;
        var output = Path.Combine(work, "out");
        List<string> arguments = ["--headless", "--norestore", "--nologo", "--nolockcheck", "--nodefault", $"-env:UserInstallation={profile}"];
        // Text is UTF-8 (upload checked it); without a filter LibreOffice guesses the encoding.
        arguments.AddRange(Path.GetExtension(source) switch
        {
            ".csv" => ["--infilter=CSV:44,34,76"],
            ".txt" => ["--infilter=Text (encoded):UTF8,LF,,,"],
            _ => [],
        });
        arguments.AddRange(["--convert-to", "pdf", "--outdir", output, source]);
        return RunAsync(Soffice, "Previews of Office and text files", arguments, work,
            Path.Combine(output, Path.GetFileNameWithoutExtension(source) + ".pdf"), "application/pdf",
            "The file could not be converted to PDF (it may be damaged or password-protected).", ct,
            new Dictionary<string, string> { ["HOME"] = work });
    }

    private async Task<Outcome> RunAsync(string tool, string what, IEnumerable<string> arguments, string work, string output, string contentType,
        string unreadable, CancellationToken ct, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (tools.Find(tool) is not { } path)
        {
            if (MissingLogged.TryAdd(tool, true))
            {
                logger.LogWarning("Previews: {Tool} is not installed on this node (not on PATH); {What} are not rendered here and are recorded as failed. Install it (README prerequisites).",
                    tool, what);
            }
            return Outcome.Failed($"{what} are not available on this server ({tool} is not installed).");
        }
        var settings = options.Value;
        var limits = new ToolLimits(settings.Timeout, 64 * 1024, settings.MemoryMb * 1024L * 1024);
        var clock = Stopwatch.StartNew();
        var run = await ChildProcess.RunAsync(path, arguments, limits, ct, work, environment);
        logger.LogInformation("Previews: {Tool} ran {Elapsed} ms, exit {ExitCode}", tool, clock.ElapsedMilliseconds, run.ExitCode);
        if (run.TimedOut)
        {
            return Outcome.Failed($"Rendering took longer than the limit of {settings.Timeout.TotalSeconds:0} s.");
        }
        var produced = new FileInfo(output);
        if (!run.Succeeded || !produced.Exists || produced.Length == 0)
        {
            logger.LogInformation("Previews: {Tool} failed with exit code {ExitCode}: {ErrorTail}", tool, run.ExitCode, run.ErrorTail);
            return Outcome.Failed(unreadable);
        }
        return new Outcome(output, contentType, null);
    }
}
