using Dapper;
using Dms.Platform.Database;
using Npgsql;

namespace Dms.Modules.Documents.Previews;

/// <summary>What the worker renders of a version: a small image of it, and a PDF of files the browser cannot show.</summary>
internal enum RenditionKind
{
    Thumbnail,
    Preview,
}

/// <summary>
/// Pending until the worker has tried; Ready with a blob; Failed with a reason in our words; Unsupported when there is
/// nothing to render for the type (a zip has no first page; a PDF or an image is its own preview).
/// </summary>
internal enum RenditionStatus
{
    Pending,
    Ready,
    Failed,
    Unsupported,
}

/// <summary>How a version's thumbnail is made, from its content type.</summary>
internal enum ThumbnailSource
{
    None,
    Image,
    Pdf,
    PreviewPdf,
}

/// <summary>
/// What to render for a content type. Images and PDFs are shown as they are (the browser renders them safely), so they
/// only get a thumbnail; Office and text files are converted to PDF by LibreOffice and their thumbnail is that PDF's
/// first page.
/// </summary>
internal sealed record RenditionPlan(ThumbnailSource Thumbnail, bool RenderPreview, string? SourceExtension)
{
    public bool Needs(RenditionKind kind) => kind == RenditionKind.Thumbnail ? Thumbnail != ThumbnailSource.None : RenderPreview;

    public static RenditionPlan For(string contentType) => BaseType(contentType) switch
    {
        "image/png" => new(ThumbnailSource.Image, false, ".png"),
        "image/jpeg" => new(ThumbnailSource.Image, false, ".jpg"),
        "image/tiff" => new(ThumbnailSource.Image, false, ".tif"),
        "application/pdf" => new(ThumbnailSource.Pdf, false, ".pdf"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Office(".docx"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Office(".xlsx"),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => Office(".pptx"),
        "application/vnd.oasis.opendocument.text" => Office(".odt"),
        "application/vnd.oasis.opendocument.spreadsheet" => Office(".ods"),
        "text/csv" => Office(".csv"),
        "text/plain" or "text/markdown" => Office(".txt"),
        _ => new(ThumbnailSource.None, false, null),
    };

    private static RenditionPlan Office(string extension) => new(ThumbnailSource.PreviewPdf, true, extension);

    private static string BaseType(string contentType) => contentType.Split(';')[0].Trim().ToLowerInvariant();
}

/// <summary>One rendition row.</summary>
internal sealed record Rendition(RenditionKind Kind, RenditionStatus Status, string? BlobKey, string? ContentType, long? Size, string? Error,
    DateTime? RenderedAt);

/// <summary>The <c>version_renditions</c> table (Documents).</summary>
internal static class Renditions
{
    /// <summary>
    /// Under the tenant's prefix (a tenant purge removes them with it) but beside, not under, the document's own prefix:
    /// <c>{tenant}/{document}*</c> stays exactly the document's files, which storage checks and tests count.
    /// </summary>
    public static string BlobKey(Guid tenant, Guid documentId, Guid versionId, RenditionKind kind) =>
        $"{tenant:N}/renditions/{documentId:N}/{versionId:N}.{kind.ToString().ToLowerInvariant()}";

    public static async Task<Dictionary<RenditionKind, Rendition>> ForVersionAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId,
        int number, CancellationToken ct) =>
        (await c.QueryAsync<Rendition>(new CommandDefinition("""
            SELECT kind, status, blob_key, content_type, size, error, rendered_at FROM version_renditions
            WHERE tenant_id = @tenant AND document_id = @documentId AND version_number = @number
            """, new { tenant, documentId, number }, tx, cancellationToken: ct))).ToDictionary(r => r.Kind);

    /// <summary>
    /// Registers a rendition about to be rendered, with its blob key, before a byte is stored (the reconciler's rule:
    /// every writer names its key first). A row that already ended stays as it is.
    /// </summary>
    public static Task StartAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, int number, RenditionKind kind, string? blobKey,
        CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO version_renditions (tenant_id, document_id, version_number, kind, status, blob_key)
            VALUES (@tenant, @documentId, @number, @kind, {RenditionStatus.Pending.Sql()}, @blobKey)
            ON CONFLICT (tenant_id, document_id, version_number, kind) DO UPDATE SET blob_key = excluded.blob_key
            WHERE version_renditions.status = {RenditionStatus.Pending.Sql()}
            """, new { tenant, documentId, number, kind = kind.Db(), blobKey }, tx, cancellationToken: ct));

    /// <summary>
    /// Records how a rendition ended; only a Pending row moves (a second run never overwrites the first's result). A
    /// Ready rendition was registered by <see cref="StartAsync"/>; an Unsupported or Failed one may have no row yet.
    /// </summary>
    public static async Task FinishAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, int number, RenditionKind kind,
        RenditionStatus status, string? contentType, long? size, string? error, CancellationToken ct)
    {
        var parameters = new { tenant, documentId, number, kind = kind.Db(), status = status.Db(), contentType, size, error };
        var updated = await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE version_renditions SET status = @status, content_type = @contentType, size = @size, error = @error, rendered_at = now()
            WHERE tenant_id = @tenant AND document_id = @documentId AND version_number = @number AND kind = @kind
              AND status = {RenditionStatus.Pending.Sql()}
            """, parameters, tx, cancellationToken: ct));
        if (updated == 0 && status != RenditionStatus.Ready)
        {
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO version_renditions (tenant_id, document_id, version_number, kind, status, error, rendered_at)
                VALUES (@tenant, @documentId, @number, @kind, @status, @error, now())
                ON CONFLICT (tenant_id, document_id, version_number, kind) DO NOTHING
                """, parameters, tx, cancellationToken: ct));
        }
    }

    /// <summary>
    /// The keys among <paramref name="keys"/> that are renditions' blobs: storage reconciliation must keep them (they are
    /// referenced by no version row).
    /// </summary>
    public static async Task<HashSet<string>> HeldAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, IReadOnlyCollection<string> keys,
        CancellationToken ct) =>
        keys.Count == 0
            ? []
            : [.. await c.QueryAsync<string>(new CommandDefinition(
                "SELECT blob_key FROM version_renditions WHERE tenant_id = @tenant AND blob_key = ANY(@keys)",
                new { tenant, keys = keys.ToArray() }, tx, cancellationToken: ct))];

    /// <summary>The thumbnail state of each listed version, for the list's grid view (absent: not rendered yet).</summary>
    public static async Task<Dictionary<(Guid DocumentId, int Number), RenditionStatus>> ThumbnailsAsync(NpgsqlConnection c, NpgsqlTransaction tx,
        Guid tenant, IReadOnlyCollection<(Guid DocumentId, int Number)> versions, CancellationToken ct)
    {
        if (versions.Count == 0)
        {
            return [];
        }
        var rows = await c.QueryAsync<(Guid DocumentId, int Number, RenditionStatus Status)>(new CommandDefinition("""
            SELECT r.document_id, r.version_number, r.status FROM version_renditions r
            JOIN unnest(@documentIds, @numbers) AS v(document_id, number) ON v.document_id = r.document_id AND v.number = r.version_number
            WHERE r.tenant_id = @tenant AND r.kind = @kind
            """, new
        {
            tenant,
            documentIds = versions.Select(v => v.DocumentId).ToArray(),
            numbers = versions.Select(v => v.Number).ToArray(),
            kind = RenditionKind.Thumbnail.Db(),
        }, tx, cancellationToken: ct));
        return rows.ToDictionary(r => (r.DocumentId, r.Number), r => r.Status);
    }
}
