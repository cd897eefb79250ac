using Dapper;
using Dms.Modules.Documents.DirectUpload;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Upload;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents;

/// <summary>
/// A file whose bytes are stored and checked but belong to nothing yet: a new version's content. Its upload session
/// (<paramref name="UploadId"/>) keeps the blob referenced until <see cref="DocumentUploads.ConsumeAsync"/> ends it.
/// </summary>
/// <param name="ClaimId">The verification claim a direct upload holds; null for a streamed one.</param>
internal sealed record StagedContent(Guid UploadId, string BlobKey, Guid VersionId, long Size, string Sha256, string ContentType, string FileName,
    Guid? ClaimId = null);

/// <summary>One part of a multipart direct upload, as the client reports it: its number and the ETag its PUT returned.</summary>
internal sealed record CompletedPart(int Number, string ETag);

/// <summary>What deciding whether a change request may be opened needs to know about a document.</summary>
internal sealed record DocumentForRequest(DocumentStatus Status, bool LegalHold, int CurrentVersion, Guid WorkspaceId);

/// <summary>
/// Documents' facade for opening a change request on a document (Approvals): check the document and lock it, mark it
/// pending, and stage the replacement's bytes, streamed from a multipart body or from a direct-upload session. The
/// static methods run inside the caller's transaction; the staging methods run their own, around storage I/O.
/// </summary>
internal sealed class DocumentUploads(Db db, StreamedForms forms, DirectUploads direct)
{
    /// <summary>
    /// Throws 404 <c>document.not_found</c> when the caller cannot read the document, 403 when they may not change it;
    /// then the document's state, or null when it is deleted or gone. With <paramref name="lockRow"/> the row stays
    /// locked until the caller's transaction ends, so requests on one document queue up.
    /// </summary>
    public static async Task<DocumentForRequest?> ForRequestAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, bool lockRow,
        CancellationToken ct)
    {
        await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct);
        var document = await c.QuerySingleOrDefaultAsync<DocumentForRequest>(new CommandDefinition(
            $"SELECT status, legal_hold, current_version, workspace_id FROM documents WHERE tenant_id = @tenant AND id = @documentId{(lockRow ? " FOR UPDATE" : "")}",
            new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
        return document is null || DocumentStates.Gone.Contains(document.Status) ? null : document;
    }

    /// <summary>Active → <paramref name="pending"/> (PendingDelete or PendingReplace) while a request is open; a new ETag.</summary>
    public static Task MarkPendingAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, DocumentStatus pending, CancellationToken ct)
    {
        if (!DocumentStates.Pending.Contains(pending))
        {
            throw new ArgumentOutOfRangeException(nameof(pending), pending, "Not a pending state.");
        }
        return c.ExecuteAsync(new CommandDefinition($"""
            UPDATE documents SET status = @status, row_version = row_version + 1, updated_at = now()
            WHERE tenant_id = @tenant AND id = @documentId AND status IN ({DocumentStates.From(pending).Sql()})
            """, new { status = pending.Db(), tenant, documentId }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// The staged bytes now belong to <paramref name="documentId"/>: their upload session ends Completed, in the caller's
    /// transaction. Throws 410 <c>upload.expired</c> when a streamed upload's session expired meanwhile (its blob may be gone),
    /// 409 <c>upload.in_progress</c> when a direct upload's claim was lost (it lapsed and another completion took the session).
    /// </summary>
    public static async Task ConsumeAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, StagedContent staged, Guid documentId, CancellationToken ct)
    {
        if (staged.ClaimId is not { } claimId)
        {
            if (await UploadSessions.FinishAsync(c, tx, tenant, staged.UploadId, UploadSessionStatus.Completed, null, cleaned: false, ct) == 0)
            {
                // Only after the session expired (a day by default) mid-upload.
                throw Expired();
            }
            // The request's length was reserved while the bytes arrived; what is held from here on is the file itself
            // (a replace request holds it until it is decided; a new version's insert has already settled it to 0).
            await c.ExecuteAsync(new CommandDefinition(
                "UPDATE upload_sessions SET reserved_bytes = @size WHERE tenant_id = @tenant AND id = @id AND reserved_bytes > @size",
                new { tenant, id = staged.UploadId, size = staged.Size }, tx, cancellationToken: ct));
            return;
        }
        if (await UploadSessions.FinishAsync(c, tx, tenant, staged.UploadId, UploadSessionStatus.Completed, null, cleaned: false, ct, claimId) == 0)
        {
            throw DirectUploads.InProgress();
        }
        await c.ExecuteAsync(new CommandDefinition("UPDATE upload_sessions SET document_id = @documentId WHERE tenant_id = @tenant AND id = @sessionId",
            new { documentId, tenant, sessionId = staged.UploadId }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// <see cref="ConsumeAsync"/> for bytes that become a new document's version 1; call it <em>before</em> inserting the
    /// version. A streamed upload's session then only ends Completed, which leaves the storage counter alone: the version
    /// insert's trigger settles the reservation to 0 (so <see cref="ConsumeAsync"/>'s second update would find nothing).
    /// A direct upload's (claimed) session is ended as by <see cref="ConsumeAsync"/>, whose updates leave the counter alone too.
    /// That keeps it out of the stretch in which the transaction holds the tenant's counter row and every other upload of
    /// the tenant waits (docs/performance.md, "Write path: where the time goes"). The lock order stays session row, then
    /// counter (ADR 0032).
    /// </summary>
    public static async Task ConsumeBeforeNewVersionAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, StagedContent staged, Guid documentId,
        CancellationToken ct)
    {
        if (staged.ClaimId is not null)
        {
            await ConsumeAsync(c, tx, tenant, staged, documentId, ct);
            return;
        }
        if (await UploadSessions.FinishAsync(c, tx, tenant, staged.UploadId, UploadSessionStatus.Completed, null, cleaned: false, ct) == 0)
        {
            throw Expired();
        }
    }

    private static ApiProblem Expired() => new(StatusCodes.Status410Gone, "upload.expired", "The upload took too long and expired; send it again.");

    /// <summary>
    /// Streams the <c>file</c> part of a multipart body into a new version blob of <paramref name="documentId"/>, then runs
    /// <paramref name="use"/> with the form's text fields and the staged file (null when the form had none). <paramref name="use"/>
    /// must call <see cref="ConsumeAsync"/> in the transaction that records what the file became; when it throws, the
    /// blob is removed. <paramref name="use"/> reads a text field by name (the last value sent).
    /// </summary>
    public async Task<T> StreamAsync<T>(HttpRequest request, CurrentUser me, Guid documentId, Func<Func<string, string?>, StagedContent?, Task<T>> use,
        CancellationToken ct)
    {
        // Refused before reading a single byte when the caller may not change the document (the answer is then the
        // same as an unknown id's); the caller checks everything else again under the row lock.
        await db.InTenantAsync(me.TenantId, (c, tx) => WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct), ct);
        return await forms.ReadAsync(request, me, documentId, beforeFile: null, form => use(form.Field, form.File), ct);
    }

    /// <summary>
    /// Verifies the bytes of the caller's Pending direct-upload session, then runs <paramref name="use"/> in a transaction
    /// with them; <paramref name="use"/> must call <see cref="ConsumeAsync"/>. <paramref name="precheck"/> runs first, in
    /// the short transaction that claims the session, so a refusal leaves the session untouched. No row is locked while
    /// the bytes are checked; when <paramref name="use"/> throws, the session can be completed again.
    /// </summary>
    public Task<T> FromDirectUploadAsync<T>(CurrentUser me, Guid uploadId, IReadOnlyList<CompletedPart>? parts,
        Func<NpgsqlConnection, NpgsqlTransaction, Task> precheck, Func<NpgsqlConnection, NpgsqlTransaction, StagedContent, Task<T>> use, CancellationToken ct) =>
        direct.CompleteAsync(me, uploadId, parts, precheck, (c, tx, _, staged) => use(c, tx, staged), ct);
}
