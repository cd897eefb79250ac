using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.Text;

/// <summary>
/// <c>document.extract_text</c>: reads a version's text in child processes and records it on the version's text row.
/// Idempotent: only a row still Pending or Failed is (re)written, so a second delivery of a finished message does nothing.
/// A file the tools cannot read is recorded as Failed and the message completes (a retry would not mend the file);
/// storage and database trouble throws so the outbox retries, and on the last attempt the row is marked Failed first,
/// so no version stays "Reading the text…" for ever.
/// </summary>
internal sealed class ExtractTextHandler(Db db, IBlobStore blobs, TextExtractor extractor, IOptions<DmsOptions> options, ILogger<ExtractTextHandler> logger)
    : IOutboxHandler
{
    public string Type => VersionProcessing.ExtractText;

    public OutboxLane Lane => OutboxLane.Background;

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var version = message.Read<VersionMessage>();
        try
        {
            await ExtractAsync(message.TenantId, version, ct);
        }
        catch (Exception ex) when (ex is not PermanentOutboxFailure && message.Attempts >= options.Value.Outbox.MaxAttempts)
        {
            await RecordAsync(message.TenantId, version,
                Extraction.Failed("The text could not be read: storage or the database kept failing; see the node's log."), CancellationToken.None);
            throw;
        }
    }

    private async Task ExtractAsync(Guid tenant, VersionMessage version, CancellationToken ct)
    {
        var stored = await db.InTenantAsync(tenant, (c, tx) => c.QuerySingleOrDefaultAsync<StoredVersion>(new CommandDefinition($"""
            SELECT v.blob_key, v.content_type FROM version_texts t
            JOIN document_versions v ON v.tenant_id = t.tenant_id AND v.document_id = t.document_id AND v.number = t.version_number
            WHERE t.tenant_id = @tenant AND t.document_id = @DocumentId AND t.version_number = @Number
              AND t.status IN ({new[] { TextStatus.Pending, TextStatus.Failed }.Sql()})
            """, new { tenant, version.DocumentId, version.Number }, tx, cancellationToken: ct)), ct);
        if (stored is null)
        {
            return; // already read, or the version is gone
        }

        // A directory of our own (mode 700) per run, always removed: the file and any rendered pages live only here.
        var directory = Directory.CreateTempSubdirectory("dms-text-");
        try
        {
            var path = Path.Combine(directory.FullName, "input");
            await using (var source = await blobs.OpenReadAsync(stored.BlobKey, 0, null, ct))
            {
                if (source is null)
                {
                    await RecordAsync(tenant, version, Extraction.Failed("The file is missing from storage."), ct);
                    return;
                }
                await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true);
                await source.CopyToAsync(file, ct);
            }
            var result = await extractor.ExtractAsync(path, stored.ContentType, ct);
            await RecordAsync(tenant, version, result, ct);
        }
        finally
        {
            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException ex)
            {
                logger.LogWarning(ex, "Could not remove the extraction directory {Directory}", directory.FullName);
            }
        }
    }

    private Task<int> RecordAsync(Guid tenant, VersionMessage version, Extraction result, CancellationToken ct) =>
        db.InTenantAsync(tenant, (c, tx) => RecordAsync(c, tx, tenant, version, result, ct), ct);

    private static Task<int> RecordAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, VersionMessage version, Extraction result, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            UPDATE version_texts SET status = @status, method = @method, content = @content, truncated = @truncated, error = @reason, extracted_at = now()
            WHERE tenant_id = @tenant AND document_id = @DocumentId AND version_number = @Number
              AND status IN ({new[] { TextStatus.Pending, TextStatus.Failed }.Sql()})
            """, new
        {
            status = result.Status.Db(),
            method = result.Method?.Db(),
            result.Content,
            result.Truncated,
            result.Reason,
            tenant,
            version.DocumentId,
            version.Number,
        }, tx, cancellationToken: ct));

    private sealed record StoredVersion(string BlobKey, string ContentType);
}
