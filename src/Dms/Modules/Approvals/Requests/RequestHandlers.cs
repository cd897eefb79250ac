using System.Xml;
using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Governance;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Modules.Webhooks;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Approvals.Requests;

/// <summary>Ask for a document to be deleted.</summary>
internal sealed record RequestDelete(Guid DocumentId, string? Reason);

internal sealed class RequestDeleteHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options, TimeProvider clock) : IHandler<RequestDelete, ApprovalResponse>
{
    public async Task<ApprovalResponse> HandleAsync(RequestDelete command, CurrentUser me, CancellationToken ct)
    {
        var reason = ChangeRequests.ValidReason(command.Reason);
        return await db.InTenantAsync(me.TenantId, (c, tx) =>
            ChangeRequests.OpenAsync(c, tx, audit, me, command.DocumentId, DocumentStatus.PendingDelete, reason, null, options.Value, clock.GetUtcNow().UtcDateTime, ct), ct);
    }
}

/// <summary>Ask for a document's content to be replaced by <paramref name="Content"/>, already staged (null when none was sent).</summary>
internal sealed record RequestReplace(Guid DocumentId, string? Reason, StagedContent? Content);

internal sealed class RequestReplaceHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options, TimeProvider clock) : IHandler<RequestReplace, ApprovalResponse>
{
    public async Task<ApprovalResponse> HandleAsync(RequestReplace command, CurrentUser me, CancellationToken ct)
    {
        var reason = ChangeRequests.ValidReason(command.Reason);
        var content = command.Content ?? throw ApiProblem.Validation("file", "A 'file' part with the new content is required.");
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var request = await ChangeRequests.OpenAsync(c, tx, audit, me, command.DocumentId, DocumentStatus.PendingReplace, reason, content, options.Value, clock.GetUtcNow().UtcDateTime, ct);
            await DocumentUploads.ConsumeAsync(c, tx, me.TenantId, content, command.DocumentId, ct);
            return request;
        }, ct);
    }
}

/// <summary>Ask for a document's content to be replaced by what the caller sent to a direct-upload session (id as sent).</summary>
internal sealed record RequestReplaceFromUpload(Guid DocumentId, string? Reason, string? UploadId, IReadOnlyList<CompletedPart>? Parts);

internal sealed class RequestReplaceFromUploadHandler(DocumentUploads uploads, AuditTrail audit, IOptions<DmsOptions> options, TimeProvider clock)
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
                var request = await ChangeRequests.OpenAsync(c, tx, audit, me, documentId, DocumentStatus.PendingReplace, reason, content, options.Value, clock.GetUtcNow().UtcDateTime, ct);
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
    /// may be opened (locking the document row) and applies the workspace's policy. A direct operation is carried out at
    /// once and answers Executed; otherwise the request is recorded with the policy's snapshot, the document is marked
    /// pending and the first stage's approvers are told.
    /// </summary>
    public static async Task<ApprovalResponse> OpenAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditTrail audit, CurrentUser me, Guid documentId,
        DocumentStatus pending, string reason, StagedContent? staged, DmsOptions options, DateTime now, CancellationToken ct)
    {
        var document = await CheckOpenableAsync(c, tx, me, documentId, pending, lockRow: true, ct);
        var type = pending == DocumentStatus.PendingDelete ? ApprovalType.Delete : ApprovalType.Replace;
        if (type == ApprovalType.Replace)
        {
            // Checked with the document row locked: a check-out is taken before or after this request, never during it.
            await DocumentsFacade.RequireNotCheckedOutByOtherAsync(c, tx, me, documentId, now, ct);
        }
        var policy = await WorkspacePolicies.SnapshotAsync(c, tx, me.TenantId, document.WorkspaceId, type.Operation(), options.Approvals.PendingTtl, ct);
        if (policy.Mode == PolicyModes.Direct)
        {
            var done = await InsertAsync(c, tx, me, documentId, type, ApprovalStatus.Executed, reason, document, policy, staged, now, ct);
            int? newVersion = null;
            if (type == ApprovalType.Delete)
            {
                await DocumentsFacade.DeleteAsync(c, tx, me.TenantId, documentId, me.UserId, ct);
            }
            else
            {
                newVersion = document.CurrentVersion + 1;
                await DocumentsFacade.AddVersionAsync(c, tx, me.TenantId, documentId, newVersion.Value,
                    new NewVersion(staged!.VersionId, staged.BlobKey, staged.Size, staged.Sha256, staged.ContentType, staged.FileName), me.UserId, ct);
            }
            await audit.RecordAsync(c, tx, "approval.executed", "approval", done.Id,
                new { type = type.Db(), documentId, reason, mode = PolicyModes.Direct, newVersion }, ct: ct);
            await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.ApprovalExecuted, done.Id, new { type = type.Db(), documentId, mode = PolicyModes.Direct }, ct);
            return done.ToResponse();
        }

        await Ballots.RequireDecidableAsync(c, tx, me.TenantId, policy, document.WorkspaceId, me.UserId, ct);
        var request = await InsertAsync(c, tx, me, documentId, type, ApprovalStatus.Pending, reason, document, policy, staged, now, ct);
        await DocumentUploads.MarkPendingAsync(c, tx, me.TenantId, documentId, pending, ct);
        await audit.RecordAsync(c, tx, "approval.requested", "approval", request.Id,
            new { type = type.Db(), documentId, reason, replacement = staged is null ? null : new { staged.FileName, staged.Size, staged.Sha256 } }, ct: ct);
        await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.ApprovalRequested, request.Id, new { type = type.Db(), documentId, requestedBy = me.UserId }, ct);
        await Ballots.AssignAsync(c, tx, me.TenantId, request, now, ct);
        return request.ToResponse();
    }

    /// <summary>
    /// Restore and legal hold lift, which an admin asks for: null when the workspace's policy makes the operation
    /// direct (the caller then does it at once), otherwise the request opened under the policy (the document does not
    /// change until it is carried out).
    /// </summary>
    public static async Task<ApprovalResponse?> OpenIfGovernedAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditTrail audit, CurrentUser me, Guid documentId,
        ApprovalType type, DocumentForRequest document, string reason, DmsOptions options, DateTime now, CancellationToken ct)
    {
        var policy = await WorkspacePolicies.SnapshotAsync(c, tx, me.TenantId, document.WorkspaceId, type.Operation(), options.Approvals.PendingTtl, ct);
        if (policy.Mode == PolicyModes.Direct)
        {
            return null;
        }
        await Ballots.RequireDecidableAsync(c, tx, me.TenantId, policy, document.WorkspaceId, me.UserId, ct);
        var request = await InsertAsync(c, tx, me, documentId, type, ApprovalStatus.Pending, reason, document, policy, null, now, ct);
        await audit.RecordAsync(c, tx, "approval.requested", "approval", request.Id, new { type = type.Db(), documentId, reason }, ct: ct);
        await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.ApprovalRequested, request.Id, new { type = type.Db(), documentId, requestedBy = me.UserId }, ct);
        await Ballots.AssignAsync(c, tx, me.TenantId, request, now, ct);
        return request.ToResponse();
    }

    /// <summary>Records a request; the partial unique index turns a second open request on the document into 409.</summary>
    private static async Task<ApprovalRow> InsertAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, ApprovalType type,
        ApprovalStatus status, string reason, DocumentForRequest document, PolicySnapshot policy, StagedContent? staged, DateTime now, CancellationToken ct)
    {
        try
        {
            await c.ExecuteAsync(new CommandDefinition("SAVEPOINT open_request", transaction: tx, cancellationToken: ct));
            DmsTelemetry.Approval(status.ToString());
            return await c.QuerySingleAsync<ApprovalRow>(new CommandDefinition($"""
                INSERT INTO approval_requests (id, tenant_id, document_id, type, status, requested_by, reason, based_on_version, expires_at,
                                               staged_blob_key, staged_version_id, staged_size, staged_sha256, staged_content_type, staged_file_name,
                                               workspace_id, policy, stage, stage_started_at, decided_by, decided_at, executed_at)
                VALUES (@id, @tenant, @documentId, @type, @status, @user, @reason, @currentVersion, @expiresAt,
                        @key, @versionId, @size, @sha256, @contentType, @fileName,
                        @workspaceId, @policy::jsonb, 0, @now,
                        CASE WHEN @direct THEN @user END, CASE WHEN @direct THEN @now END, CASE WHEN @direct THEN @now END)
                RETURNING {ApprovalRequests.Columns}
                """,
                new
                {
                    id = Guid.CreateVersion7(),
                    tenant = me.TenantId,
                    documentId,
                    type = type.Db(),
                    status = status.Db(),
                    user = me.UserId,
                    reason,
                    currentVersion = document.CurrentVersion,
                    expiresAt = now + XmlConvert.ToTimeSpan(policy.ExpiresAfter!),
                    key = staged?.BlobKey,
                    versionId = staged?.VersionId,
                    size = staged?.Size,
                    sha256 = staged?.Sha256,
                    contentType = staged?.ContentType,
                    fileName = staged?.FileName,
                    workspaceId = document.WorkspaceId,
                    policy = policy.Serialize(),
                    now,
                    direct = status == ApprovalStatus.Executed,
                }, tx, cancellationToken: ct));
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // The partial unique index is the final word on "one open request per document".
            await c.ExecuteAsync(new CommandDefinition("ROLLBACK TO SAVEPOINT open_request", transaction: tx, cancellationToken: ct));
            throw AlreadyPending();
        }
    }

    /// <summary>
    /// Checks a request may be opened: the document exists and is not deleted, it is not on legal hold (for deletes),
    /// nothing is open on it. Returns its current version. With <paramref name="lockRow"/> the document row is locked,
    /// so requests on one document queue up.
    /// </summary>
    public static async Task<DocumentForRequest> CheckOpenableAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, DocumentStatus pending,
        bool lockRow, CancellationToken ct)
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
        return document;
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

    public static ApiProblem AlreadyPending() =>
        ApiProblem.Conflict("approval.already_pending", "The document already has an open request; it must be decided first.");
}
