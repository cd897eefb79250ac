using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Approvals.Requests;

/// <summary>Ask for a document to be deleted.</summary>
internal sealed record RequestDelete(Guid DocumentId, string? Reason);

internal sealed class RequestDeleteHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options) : IHandler<RequestDelete, ApprovalResponse>
{
    public async Task<ApprovalResponse> HandleAsync(RequestDelete command, CurrentUser me, CancellationToken ct)
    {
        var reason = ChangeRequests.ValidReason(command.Reason);
        return await db.InTenantAsync(me.TenantId, (c, tx) =>
            ChangeRequests.OpenAsync(c, tx, audit, me, command.DocumentId, DocumentStatus.PendingDelete, reason, null, options.Value, ct), ct);
    }
}

/// <summary>Ask for a document's content to be replaced by <paramref name="Content"/>, already staged (null when none was sent).</summary>
internal sealed record RequestReplace(Guid DocumentId, string? Reason, StagedContent? Content);

internal sealed class RequestReplaceHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options) : IHandler<RequestReplace, ApprovalResponse>
{
    public async Task<ApprovalResponse> HandleAsync(RequestReplace command, CurrentUser me, CancellationToken ct)
    {
        var reason = ChangeRequests.ValidReason(command.Reason);
        var content = command.Content ?? throw ApiProblem.Validation("file", "A 'file' part with the new content is required.");
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var request = await ChangeRequests.OpenAsync(c, tx, audit, me, command.DocumentId, DocumentStatus.PendingReplace, reason, content, options.Value, ct);
            await DocumentUploads.ConsumeAsync(c, tx, me.TenantId, content, command.DocumentId, ct);
            return request;
        }, ct);
    }
}

/// <summary>Ask for a document's content to be replaced by what the caller sent to a direct-upload session (id as sent).</summary>
internal sealed record RequestReplaceFromUpload(Guid DocumentId, string? Reason, string? UploadId, IReadOnlyList<CompletedPart>? Parts);

internal sealed class RequestReplaceFromUploadHandler(DocumentUploads uploads, AuditTrail audit, IOptions<DmsOptions> options)
    : IHandler<RequestReplaceFromUpload, ApprovalResponse>
{
    public async Task<ApprovalResponse> HandleAsync(RequestReplaceFromUpload command, CurrentUser me, CancellationToken ct)
    {
        var reason = ChangeRequests.ValidReason(command.Reason);
        if (string.IsNullOrEmpty(command.UploadId))
        {
            throw ApiProblem.Validation("uploadId", "uploadId is required (or send the file as multipart/form-data).");
        }
        var uploadId = RouteIds.Parse(command.UploadId, "uploadId");
        var documentId = command.DocumentId;
        // The staged bytes are verified with no row locked (the document stays readable and editable meanwhile);
        // the document is locked and checked again only to open the request.
        return await uploads.FromDirectUploadAsync(me, uploadId, command.Parts,
            (c, tx) => ChangeRequests.CheckOpenableAsync(c, tx, me, documentId, DocumentStatus.PendingReplace, lockRow: false, ct),
            async (c, tx, content) =>
            {
                var request = await ChangeRequests.OpenAsync(c, tx, audit, me, documentId, DocumentStatus.PendingReplace, reason, content, options.Value, ct);
                await DocumentUploads.ConsumeAsync(c, tx, me.TenantId, content, documentId, ct);
                return request;
            }, ct);
    }
}

/// <summary>
/// Content never changes directly: a delete or replace request is opened, which an admin decides. The document is
/// unchanged meanwhile (a replacement's bytes are staged) and shows PendingDelete/PendingReplace until the request ends.
/// </summary>
internal static class ChangeRequests
{
    private const int MaxReason = 2000;

    /// <summary>
    /// Opens the request that moves the document to <paramref name="pending"/>, in the caller's transaction: checks it
    /// may be opened (locking the document row), records it, marks the document pending, tells the admins.
    /// </summary>
    public static async Task<ApprovalResponse> OpenAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditTrail audit, CurrentUser me, Guid documentId,
        DocumentStatus pending, string reason, StagedContent? staged, DmsOptions options, CancellationToken ct)
    {
        var currentVersion = await CheckOpenableAsync(c, tx, me, documentId, pending, lockRow: true, ct);
        var type = pending == DocumentStatus.PendingDelete ? ApprovalType.Delete : ApprovalType.Replace;
        ApprovalRow request;
        try
        {
            await c.ExecuteAsync(new CommandDefinition("SAVEPOINT open_request", transaction: tx, cancellationToken: ct));
            request = await c.QuerySingleAsync<ApprovalRow>(new CommandDefinition($"""
                INSERT INTO approval_requests (id, tenant_id, document_id, type, status, requested_by, reason, based_on_version, expires_at,
                                               staged_blob_key, staged_version_id, staged_size, staged_sha256, staged_content_type, staged_file_name)
                VALUES (@id, @tenant, @documentId, @type, {ApprovalStatus.Pending.Sql()}, @user, @reason, @currentVersion, now() + @ttl,
                        @key, @versionId, @size, @sha256, @contentType, @fileName)
                RETURNING {ApprovalRequests.Columns}
                """,
                new
                {
                    id = Guid.CreateVersion7(),
                    tenant = me.TenantId,
                    documentId,
                    type = type.Db(),
                    user = me.UserId,
                    reason,
                    currentVersion,
                    ttl = options.Approvals.PendingTtl,
                    key = staged?.BlobKey,
                    versionId = staged?.VersionId,
                    size = staged?.Size,
                    sha256 = staged?.Sha256,
                    contentType = staged?.ContentType,
                    fileName = staged?.FileName,
                }, tx, cancellationToken: ct));
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // The partial unique index is the final word on "one open request per document".
            await c.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT open_request", transaction: tx, cancellationToken: ct));
            throw AlreadyPending();
        }
        await DocumentUploads.MarkPendingAsync(c, tx, me.TenantId, documentId, pending, ct);
        await audit.RecordAsync(c, tx, "approval.requested", "approval", request.Id,
            new { type = type.Db(), documentId, reason, replacement = staged is null ? null : new { staged.FileName, staged.Size, staged.Sha256 } }, ct: ct);
        await Notify.AdminsAsync(c, tx, me.TenantId, request, "approval.requested", $"{type} requested for {Notify.Document}",
            $"{me.Email} asks to {type.Verb()} it: {reason}", ct);
        return request.ToResponse();
    }

    /// <summary>
    /// Checks a request may be opened: the document exists and is not deleted, it is not on legal hold (for deletes),
    /// nothing is open on it. Returns its current version. With <paramref name="lockRow"/> the document row is locked,
    /// so requests on one document queue up.
    /// </summary>
    public static async Task<int> CheckOpenableAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, DocumentStatus pending, bool lockRow,
        CancellationToken ct)
    {
        var document = await DocumentUploads.ForRequestAsync(c, tx, me, documentId, lockRow, ct) ?? throw ApiProblem.NotFound("document");
        if (pending == DocumentStatus.PendingDelete && document.LegalHold)
        {
            throw ApiProblem.Conflict("document.legal_hold", "The document is on legal hold and cannot be deleted.");
        }
        if (!DocumentStates.CanMove(document.Status, pending))
        {
            throw AlreadyPending();
        }
        return document.CurrentVersion;
    }

    public static string ValidReason(string? reason)
    {
        var trimmed = reason?.Trim();
        new Validator()
            .Require(!string.IsNullOrEmpty(trimmed), "reason", "A reason is required.")
            .Require(trimmed is null || (trimmed.Length <= MaxReason && !trimmed.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\r' or '\t'))),
                "reason", $"reason is at most {MaxReason} characters.")
            .ThrowIfInvalid();
        return trimmed!;
    }

    private static ApiProblem AlreadyPending() =>
        ApiProblem.Conflict("approval.already_pending", "The document already has an open request; it must be decided first.");
}
