using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Webhooks;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents;

/// <summary>The version and hold of a document, read under its row lock.</summary>
internal sealed record DocumentLock(int CurrentVersion, bool LegalHold);

/// <summary>A new current version that was staged elsewhere (an approved replacement).</summary>
internal sealed record NewVersion(Guid VersionId, string BlobKey, long Size, string Sha256, string ContentType, string FileName);


internal sealed record LegalHoldState(bool LegalHold, string? Reason);

internal sealed record TrashedDocument(Guid Id, string Title, Guid WorkspaceId, DateTime DeletedAt, Guid? DeletedBy, DateTime PurgeAfter, bool LegalHold);

/// <summary>What a purge decided: <see cref="PurgedNow"/> when this call moved the document to Purged; the blobs of all its versions.</summary>
internal sealed record PurgeOutcome(bool PurgedNow, IReadOnlyList<string> BlobKeys);

/// <summary>What a list of another module's items shows of a live document the caller may read.</summary>
internal sealed record DocumentSummary(Guid Id, string Title, string FileName, long Size);

/// <summary>
/// What other modules may do to documents (Approvals: carrying out and ending requests, trash, legal hold, retention;
/// notifications naming a document). Every method runs in the caller's transaction, so the caller's own state change,
/// its outbox message and its audit entry commit together with the document's.
/// </summary>
internal static class DocumentsFacade
{
    /// <summary>
    /// 423 document.locked when someone other than the caller holds a live check-out of the document: while it is checked
    /// out only its holder may ask for a new version. Called after the document row was locked for the request.
    /// </summary>
    public static async Task RequireNotCheckedOutByOtherAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, DateTime now,
        CancellationToken ct)
    {
        if (await Checkout.Checkouts.CurrentAsync(c, tx, me.TenantId, documentId, now, ct) is { } held && held.UserId != me.UserId)
        {
            throw Checkout.Checkouts.Locked(held);
        }
    }

    /// <summary>Locks the document row (decisions and executions on one document queue up) and reads what they check.</summary>
    public static Task<DocumentLock> LockAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.QuerySingleAsync<DocumentLock>(new CommandDefinition(
            "SELECT current_version, legal_hold FROM documents WHERE tenant_id = @tenant AND id = @documentId FOR UPDATE",
            new { tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>
    /// Locks a document in any state but purged and reads what governing a restore or a legal hold lift needs (its
    /// workspace decides the policy); null when it does not exist or was purged.
    /// </summary>
    public static Task<DocumentForRequest?> LockForGovernanceAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<DocumentForRequest?>(new CommandDefinition($"""
            SELECT status, legal_hold, current_version, workspace_id FROM documents
            WHERE tenant_id = @tenant AND id = @documentId AND status <> {DocumentStatus.Purged.Sql()}
            FOR UPDATE
            """, new { tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>The document goes back to Active from a pending state (its request ended without being carried out).</summary>
    public static Task ReleaseAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            UPDATE documents SET status = {DocumentStatus.Active.Sql()}, row_version = row_version + 1, updated_at = now()
            WHERE tenant_id = @tenant AND id = @documentId AND status IN ({DocumentStates.Pending.Sql()})
            """, new { tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>An approved delete: the document moves to the trash.</summary>
    public static async Task DeleteAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, Guid deletedBy, CancellationToken ct)
    {
        await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE documents SET status = {DocumentStatus.Deleted.Sql()}, deleted_at = now(), deleted_by = @deletedBy, row_version = row_version + 1, updated_at = now()
            WHERE tenant_id = @tenant AND id = @documentId
            """, new { tenant, documentId, deletedBy }, tx, cancellationToken: ct));
        await WebhookEvents.PublishAsync(c, tx, tenant, WebhookEventTypes.DocumentDeleted, documentId, new { deletedBy }, ct);
    }

    /// <summary>An approved replacement: <paramref name="version"/> becomes version <paramref name="number"/>, current, and the document Active again.</summary>
    public static async Task AddVersionAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, int number, NewVersion version, Guid by,
        CancellationToken ct)
    {
        await c.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
            VALUES (@versionId, @tenant, @documentId, @number, @key, @size, @sha256, @contentType, @fileName, @by);
            UPDATE documents SET current_version = @number, content_family = document_content_family(@contentType), status = {DocumentStatus.Active.Sql()},
                                 row_version = row_version + 1, updated_at = now(), updated_by = @by
            WHERE tenant_id = @tenant AND id = @documentId;
            """,
            new
            {
                versionId = version.VersionId,
                tenant,
                documentId,
                number,
                key = version.BlobKey,
                size = version.Size,
                sha256 = version.Sha256,
                contentType = version.ContentType,
                fileName = version.FileName,
                by,
            }, tx, cancellationToken: ct));
        await VersionProcessing.QueueAsync(c, tx, tenant, documentId, number, ct);
        await WebhookEvents.PublishAsync(c, tx, tenant, WebhookEventTypes.VersionAdded, documentId,
            new { version = number, versionId = version.VersionId, version.FileName, version.Size, version.ContentType, addedBy = by }, ct);
    }

    /// <summary>
    /// Brings a document back from the trash: 404 when it does not exist, 410 once purged, 409 when it is not in the
    /// trash. Answers with the document as Documents shows it.
    /// </summary>
    public static async Task<DocumentResponse> RestoreAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, Guid by,
        CancellationToken ct)
    {
        // A single scalar is not mapped through the enum's type handler (Dapper converts scalars itself): read the name.
        var stored = await c.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT status FROM documents WHERE tenant_id = @tenant AND id = @documentId FOR UPDATE",
            new { tenant, documentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
        var status = Enum.Parse<DocumentStatus>(stored);
        if (status == DocumentStatus.Purged)
        {
            throw new ApiProblem(StatusCodes.Status410Gone, "document.purged", "The document was purged after its retention period; it cannot be restored.");
        }
        if (status != DocumentStatus.Deleted)
        {
            throw ApiProblem.Conflict("document.not_deleted", "The document is not in the trash.");
        }
        await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE documents SET status = {DocumentStatus.Active.Sql()}, deleted_at = NULL, deleted_by = NULL, purge_requested_at = NULL,
                                 row_version = row_version + 1, updated_at = now(), updated_by = @by
            WHERE tenant_id = @tenant AND id = @documentId
            """, new { tenant, documentId, by }, tx, cancellationToken: ct));
        await WebhookEvents.PublishAsync(c, tx, tenant, WebhookEventTypes.DocumentRestored, documentId, new { restoredBy = by }, ct);
        return (await DocumentReadModel.GetAsync(c, tx, tenant, documentId, ct))!;
    }

    /// <summary>Places or lifts a legal hold; null when the document does not exist or was purged.</summary>
    public static Task<LegalHoldState?> SetLegalHoldAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, bool enabled, string? reason,
        Guid by, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<LegalHoldState?>(new CommandDefinition($"""
            UPDATE documents SET legal_hold = @enabled, legal_hold_reason = CASE WHEN @enabled THEN @reason END,
                                 row_version = row_version + 1, updated_at = now(), updated_by = @by
            WHERE tenant_id = @tenant AND id = @documentId AND status <> {DocumentStatus.Purged.Sql()}
            RETURNING legal_hold, legal_hold_reason AS reason
            """, new { enabled, reason, by, tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>Whether the document exists, in any state (its history outlives it).</summary>
    public static Task<bool> ExistsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE tenant_id = @tenant AND id = @documentId)",
            new { tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>The document's title as it is now, in any state; null when there is no such document.</summary>
    public static Task<string?> TitleAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT title FROM documents WHERE tenant_id = @tenant AND id = @documentId", new { tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>
    /// For a message sent later (e-mail): the document's title and state if <paramref name="userId"/> with tenant role
    /// <paramref name="tenantRole"/> may read it now, in any state (the page of a deleted one says so); null when they may not.
    /// </summary>
    public static async Task<DocumentForReader?> ForReaderAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, Guid userId,
        string tenantRole, CancellationToken ct)
    {
        var rows = await c.QueryAsync<(string Title, DocumentStatus Status, string? Role)>(new CommandDefinition("""
            SELECT d.title, d.status, m.role
            FROM documents d
            LEFT JOIN workspace_members m ON m.tenant_id = d.tenant_id AND m.workspace_id = d.workspace_id AND m.user_id = @userId
            WHERE d.tenant_id = @tenant AND d.id = @documentId
            """, new { tenant, documentId, userId }, tx, cancellationToken: ct));
        return rows.FirstOrDefault() is { Title: not null } r && Permissions.Allows(tenantRole, r.Role, WorkspaceAction.Read)
            ? new DocumentForReader(documentId, r.Title, r.Status, DocumentStates.Live.Contains(r.Status))
            : null;
    }

    /// <summary>
    /// Of <paramref name="documentIds"/>, the live documents <paramref name="me"/> may read, with their current file, in one
    /// query (the rest, deleted or out of reach, are simply absent).
    /// </summary>
    public static async Task<IReadOnlyDictionary<Guid, DocumentSummary>> ReadableSummariesAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me,
        IReadOnlyCollection<Guid> documentIds, CancellationToken ct)
    {
        if (documentIds.Count == 0)
        {
            return new Dictionary<Guid, DocumentSummary>();
        }
        var rows = await c.QueryAsync<(Guid Id, string Title, string FileName, long Size, string? Role)>(new CommandDefinition($"""
            SELECT d.id, d.title, v.file_name, v.size, m.role
            FROM documents d
            JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id AND v.number = d.current_version
            LEFT JOIN workspace_members m ON m.tenant_id = d.tenant_id AND m.workspace_id = d.workspace_id AND m.user_id = @user
            WHERE d.tenant_id = @tenant AND d.id = ANY(@documentIds) AND d.status IN ({DocumentStates.Live.Sql()})
            """, new { tenant = me.TenantId, user = me.UserId, documentIds = documentIds.ToArray() }, tx, cancellationToken: ct));
        return rows.Where(r => Permissions.Allows(me.Role, r.Role, WorkspaceAction.Read))
            .ToDictionary(r => r.Id, r => new DocumentSummary(r.Id, r.Title, r.FileName, r.Size));
    }

    /// <summary>One page of the trash, newest deletion first; <paramref name="take"/> rows at most.</summary>
    public static async Task<IReadOnlyList<TrashedDocument>> TrashAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, TimeSpan retention,
        KeysetCursor? after, int take, CancellationToken ct) =>
        (await c.QueryAsync<TrashedDocument>(new CommandDefinition($"""
            SELECT id, title, workspace_id, deleted_at, deleted_by, deleted_at + @retention AS purge_after, legal_hold
            FROM documents
            WHERE tenant_id = @tenant AND status = {DocumentStatus.Deleted.Sql()}
              AND (@afterAt::timestamptz IS NULL OR (deleted_at, id) < (@afterAt, @afterId))
            ORDER BY deleted_at DESC, id DESC
            LIMIT @take
            """, new { tenant, retention, afterAt = after?.CreatedAt, afterId = after?.Id ?? Guid.Empty, take }, tx, cancellationToken: ct))).ToList();

    /// <summary>
    /// Marks the documents deleted longer than <paramref name="retention"/> ago and not on hold as due for purge, once
    /// (a marked document is not returned again), and returns them.
    /// </summary>
    public static async Task<IReadOnlyList<Guid>> MarkDueForPurgeAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, TimeSpan retention,
        CancellationToken ct) =>
        (await c.QueryAsync<Guid>(new CommandDefinition($"""
            UPDATE documents SET purge_requested_at = now()
            WHERE tenant_id = @tenant AND status = {DocumentStatus.Deleted.Sql()} AND NOT legal_hold AND purge_requested_at IS NULL
              AND deleted_at < now() - @retention
            RETURNING id
            """, new { tenant, retention }, tx, cancellationToken: ct))).ToList();

    /// <summary>
    /// Moves a document whose retention ran out to Purged and returns the blobs of its versions, for the caller to delete
    /// once this commits. A document already Purged returns its blobs again (a retry). Anything else (restored, on
    /// hold, not yet due, by the database's clock) is not purged: its purge mark is cleared, so the scheduler considers
    /// it again later, and the answer is null.
    /// </summary>
    public static async Task<PurgeOutcome?> PurgeAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, TimeSpan retention,
        CancellationToken ct)
    {
        var document = await c.QuerySingleOrDefaultAsync<(DocumentStatus Status, bool LegalHold, bool Due)?>(new CommandDefinition("""
            SELECT status, legal_hold, coalesce(deleted_at < now() - @retention, false) AS due
            FROM documents WHERE tenant_id = @tenant AND id = @documentId FOR UPDATE
            """, new { tenant, documentId, retention }, tx, cancellationToken: ct));
        var due = document is { Status: DocumentStatus.Deleted, LegalHold: false, Due: true };
        if (!due && document is not { Status: DocumentStatus.Purged })
        {
            await c.ExecuteAsync(new CommandDefinition(
                $"UPDATE documents SET purge_requested_at = NULL WHERE tenant_id = @tenant AND id = @documentId AND status = {DocumentStatus.Deleted.Sql()}",
                new { tenant, documentId }, tx, cancellationToken: ct));
            return null;
        }
        if (due)
        {
            await c.ExecuteAsync(new CommandDefinition(
                $"UPDATE documents SET status = {DocumentStatus.Purged.Sql()}, purged_at = now(), row_version = row_version + 1 WHERE tenant_id = @tenant AND id = @documentId",
                new { tenant, documentId }, tx, cancellationToken: ct));
            // The text read from the files goes with them (the search row went with the status, by trigger).
            await c.ExecuteAsync(new CommandDefinition(
                "UPDATE version_texts SET content = NULL WHERE tenant_id = @tenant AND document_id = @documentId AND content IS NOT NULL",
                new { tenant, documentId }, tx, cancellationToken: ct));
        }
        // The versions' files and their renditions (thumbnails, previews): nothing of a purged document stays in storage.
        var keys = (await c.QueryAsync<string>(new CommandDefinition("""
            SELECT blob_key FROM document_versions WHERE tenant_id = @tenant AND document_id = @documentId
            UNION ALL
            SELECT blob_key FROM version_renditions WHERE tenant_id = @tenant AND document_id = @documentId AND blob_key IS NOT NULL
            """, new { tenant, documentId }, tx, cancellationToken: ct))).ToList();
        return new PurgeOutcome(due, keys);
    }
}

/// <summary>A document as a notification names it: title, state, and whether it is live (not deleted or purged).</summary>
internal sealed record DocumentForReader(Guid Id, string Title, DocumentStatus Status, bool Live);
