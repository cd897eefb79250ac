using System.IO.Compression;
using System.Text.Json;
using Dapper;
using Dms.Modules.Documents.Download;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Documents.Bulk;

/// <summary>
/// <c>zip</c>: the job's run only checks each document is still there for the requester (done, or failed "not found"); the
/// ZIP itself is built while it is downloaded (<see cref="ZipContent"/>), so it never exists whole in memory or on disk.
/// </summary>
internal sealed class ZipBulkAction(Db db) : ITransactionalBulkAction
{
    public const string ActionName = "zip";

    public string Name => ActionName;

    public void Validate(JsonElement parameters)
    {
        if (parameters.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null) && (parameters.ValueKind != JsonValueKind.Object || parameters.EnumerateObject().Any()))
        {
            throw ApiProblem.Validation("params", "A zip job takes no params.");
        }
    }

    public Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct) =>
        db.InTenantAsync(requester.TenantId, (c, tx) => ApplyInAsync(c, tx, requester, documentId, parameters, ct), ct);

    public async Task<BulkItemResult> ApplyInAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct)
    {
        await WorkspaceAccess.RequireForDocumentAsync(c, tx, requester, documentId, WorkspaceAction.Read, ct);
        var live = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
            $"SELECT EXISTS (SELECT 1 FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()}))",
            new { tenant = requester.TenantId, documentId }, tx, cancellationToken: ct));
        return live ? BulkItemResult.Done : throw ApiProblem.NotFound("document");
    }
}

internal sealed record ZipJobContent(Guid JobId);

/// <summary>The documents a finished zip job will put in its file, in the job's order: the ones whose check was done.</summary>
internal sealed class ZipContent(Db db, BulkJobQueries queries, DownloadDocumentHandler downloads, IBlobStore blobs) : IHandler<ZipJobContent, IReadOnlyList<Guid>>
{
    public async Task<IReadOnlyList<Guid>> HandleAsync(ZipJobContent query, CurrentUser me, CancellationToken ct)
    {
        var job = await queries.RequireAsync(me, query.JobId, ct);
        if (job.Action != ZipBulkAction.ActionName || job.RequestedBy != me.UserId)
        {
            throw ApiProblem.NotFound("bulk_job_content");
        }
        if (job.Status != BulkJobStatus.Done)
        {
            throw ApiProblem.Conflict("bulk.not_ready", "The ZIP is not ready yet: wait until the job is done.");
        }
        var ids = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<Guid>(new CommandDefinition($"""
            SELECT document_id FROM bulk_job_items WHERE tenant_id = @tenant AND job_id = @jobId AND outcome = {BulkOutcome.Done.Sql()} ORDER BY seq
            """, new { tenant = me.TenantId, jobId = query.JobId }, tx, cancellationToken: ct)), ct);
        return ids.ToList();
    }

    /// <summary>
    /// Writes the ZIP to <paramref name="output"/> entry by entry: each document is authorised and audited as a download
    /// (<c>document.downloaded</c>) just before its bytes are copied from storage; one the caller can no longer read is
    /// left out. Stored without compression (documents are mostly compressed already), so memory stays one copy buffer.
    /// </summary>
    public async Task<int> WriteAsync(Stream output, CurrentUser me, IReadOnlyList<Guid> documents, CancellationToken ct)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var written = 0;
        await using var body = new SyncWritesBuffered(output);
        await using (var zip = await ZipArchive.CreateAsync(body, ZipArchiveMode.Create, leaveOpen: true, entryNameEncoding: null, ct))
        {
            written = await AddEntriesAsync(zip, body, me, documents, names, ct);
        }
        await body.FlushAsync(ct);
        return written;
    }

    private async Task<int> AddEntriesAsync(ZipArchive zip, SyncWritesBuffered body, CurrentUser me, IReadOnlyList<Guid> documents, HashSet<string> names, CancellationToken ct)
    {
        var written = 0;
        foreach (var documentId in documents)
        {
            DownloadableVersion version;
            try
            {
                version = await downloads.HandleAsync(new DownloadDocument(documentId, null, Streamed: true), me, ct);
            }
            catch (ApiProblem)
            {
                continue; // gone or no longer readable since the job ran: left out, as a listing would leave it out
            }
            await using var source = await blobs.OpenReadAsync(version.BlobKey, 0, null, ct);
            if (source is null)
            {
                continue;
            }
            var entry = zip.CreateEntry(UniqueName(names, version.FileName), CompressionLevel.NoCompression);
            entry.LastWriteTime = new DateTimeOffset(DateTime.SpecifyKind(version.CreatedAt, DateTimeKind.Utc));
            await using (var target = await entry.OpenAsync(ct))
            {
                await source.CopyToAsync(target, 81920, ct);
            }
            await body.FlushAsync(ct);
            written++;
        }
        return written;
    }

    /// <summary>The file name, or "name (2).ext", "name (3).ext"… when an earlier entry already has it.</summary>
    internal static string UniqueName(HashSet<string> used, string fileName)
    {
        var name = string.IsNullOrWhiteSpace(fileName) ? "document" : fileName.Replace('\\', '_').Replace('/', '_');
        if (used.Add(name))
        {
            return name;
        }
        var stem = Path.GetFileNameWithoutExtension(name);
        var extension = Path.GetExtension(name);
        for (var n = 2; ; n++)
        {
            var candidate = $"{stem} ({n}){extension}";
            if (used.Add(candidate))
            {
                return candidate;
            }
        }
    }
}

/// <summary>
/// Between <see cref="ZipArchive"/> and a response body that refuses synchronous writes: ZipArchive (.NET 10) still writes an
/// entry's data descriptor and the central directory synchronously even through its async API. Those small synchronous
/// writes are held here and sent with the next asynchronous write or flush; the entries' bytes pass straight through.
/// </summary>
internal sealed class SyncWritesBuffered(Stream inner) : Stream
{
    private readonly MemoryStream _pending = new();
    private long _position;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        _pending.Write(buffer, offset, count);
        _position += count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await SendPendingAsync(cancellationToken);
        await inner.WriteAsync(buffer, cancellationToken);
        _position += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await SendPendingAsync(cancellationToken);
        await inner.FlushAsync(cancellationToken);
    }

    // A synchronous flush cannot reach the response; what is pending goes with the next asynchronous write or flush.
    public override void Flush()
    {
    }

    public override async ValueTask DisposeAsync()
    {
        await SendPendingAsync(CancellationToken.None);
        await _pending.DisposeAsync();
        await base.DisposeAsync();
    }

    private async Task SendPendingAsync(CancellationToken ct)
    {
        if (_pending.Length > 0)
        {
            await inner.WriteAsync(_pending.GetBuffer().AsMemory(0, (int)_pending.Length), ct);
            _pending.SetLength(0);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
