using Dms.Modules.Documents;
using System.Text.Json;
using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents.DirectUpload;
using Dms.Modules.Documents.Upload;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Approvals.Requests;

internal sealed record DeleteRequestBody(string? Reason);

internal sealed record ReplaceRequestBody(string? UploadId, string? Reason, CompletedPart[]? Parts);

/// <summary>
/// Content never changes directly: <c>POST /documents/{id}/delete-requests</c> and <c>/replace-requests</c>
/// open a request that an admin decides. The document is unchanged (a replacement's bytes are staged) and
/// shows <c>PendingDelete</c>/<c>PendingReplace</c> until the request ends.
/// </summary>
internal static class RequestEndpoints
{
    private const int MaxReason = 2000;

    public static async Task<IResult> RequestDelete(HttpContext http, string id, DeleteRequestBody body, Db db, IOptions<DmsOptions> options, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var reason = ValidReason(body.Reason);
        var request = await db.InTenantAsync(me.TenantId, (c, tx) =>
            OpenAsync(c, tx, audit, me, documentId, ApprovalType.Delete, reason, null, options.Value, ct), ct);
        return Created(request);
    }

    /// <summary>Multipart (<c>file</c>, <c>reason</c>) streams the new content; JSON <c>{uploadId, reason}</c> takes a direct upload's.</summary>
    public static async Task<IResult> RequestReplace(HttpContext http, string id, Db db, IBlobStore blobs, IOptions<DmsOptions> options,
        ILoggerFactory loggers, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        if (http.Request.HasJsonContentType())
        {
            ReplaceRequestBody? body;
            try
            {
                body = await http.Request.ReadFromJsonAsync<ReplaceRequestBody>(Outbox.Json, ct);
            }
            catch (JsonException ex)
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "request.malformed", "The request could not be read.",
                    $"The JSON body is malformed or has a value of the wrong type{(ex.Path is { Length: > 0 } p ? $" at {p}" : "")}.");
            }
            if (body is null)
            {
                throw ApiProblem.Validation("body", "Send {uploadId, reason}.");
            }
            var reason = ValidReason(body.Reason);
            if (string.IsNullOrEmpty(body.UploadId))
            {
                throw ApiProblem.Validation("uploadId", "uploadId is required (or send the file as multipart/form-data).");
            }
            var sessionId = RouteIds.Parse(body.UploadId, "uploadId");
            // The staged bytes are verified with no row locked (the document stays readable and editable meanwhile);
            // the document is locked and checked again only to open the request.
            var created = await UploadSessionEndpoints.CompleteClaimedAsync(db, blobs, options.Value, me, sessionId, body.Parts, loggers.CreateLogger("Dms.Approvals"),
                (c, tx) => CheckOpenableDocumentAsync(c, tx, me, documentId, ApprovalType.Replace, forUpdate: false, ct),
                async (c, tx, verified) =>
                {
                    var file = new Staged(verified.Session.FinalKey, verified.Session.VersionId, verified.Size, verified.Sha256, verified.Kind.ContentType, verified.Session.FileName);
                    var request = await OpenAsync(c, tx, audit, me, documentId, ApprovalType.Replace, reason, file, options.Value, ct);
                    await UploadSessionEndpoints.ConsumeAsync(c, tx, me.TenantId, verified, documentId, ct);
                    return request;
                }, ct);
            return Created(created);
        }

        // Refuse before reading a single byte of the file when the caller may not touch the document (and keep
        // the answer identical to an unknown id's); everything else is checked again under the row lock.
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct);
            return true;
        }, ct);
        return await UploadDocumentEndpoint.WithStreamedFormAsync(http, me, documentId, db, blobs, options.Value, loggers.CreateLogger("Dms.Approvals"), async upload =>
        {
            var reason = ValidReason(upload.Field("reason"));
            if (upload.File is not { } file || upload.BlobKey is not { } key)
            {
                throw ApiProblem.Validation("file", "A 'file' part with the new content is required.");
            }
            var request = await db.InTenantAsync(me.TenantId, async (c, tx) =>
            {
                var created = await OpenAsync(c, tx, audit, me, documentId, ApprovalType.Replace, reason,
                    new Staged(key, upload.VersionId, file.Size, file.Sha256, file.ContentType, file.FileName), options.Value, ct);
                if (await Documents.Domain.UploadSessions.FinishAsync(c, tx, me.TenantId, upload.VersionId, "Completed", null, cleaned: false, ct) == 0)
                {
                    throw new ApiProblem(StatusCodes.Status410Gone, "upload.expired", "The upload took too long and expired; send it again.");
                }
                return created;
            }, ct);
            upload.Committed = true;
            return Created(request);
        }, ct);
    }

    private sealed record Staged(string Key, Guid VersionId, long Size, string Sha256, string ContentType, string FileName);

    private static async Task<ApprovalResponse> OpenAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditTrail audit, CurrentUser me, Guid documentId, string type,
        string reason, Staged? staged, DmsOptions options, CancellationToken ct)
    {
        var currentVersion = await CheckOpenableDocumentAsync(c, tx, me, documentId, type, forUpdate: true, ct);
        ApprovalRow request;
        try
        {
            await c.ExecuteAsync(new CommandDefinition("SAVEPOINT open_request", transaction: tx, cancellationToken: ct));
            request = await c.QuerySingleAsync<ApprovalRow>(new CommandDefinition($"""
                INSERT INTO approval_requests (id, tenant_id, document_id, type, status, requested_by, reason, based_on_version, expires_at,
                                               staged_blob_key, staged_version_id, staged_size, staged_sha256, staged_content_type, staged_file_name)
                VALUES (@id, @tenant, @documentId, @type, 'Pending', @user, @reason, @currentVersion, now() + @ttl,
                        @key, @versionId, @size, @sha256, @contentType, @fileName)
                RETURNING {ApprovalRequests.Columns}
                """,
                new
                {
                    id = Guid.CreateVersion7(),
                    tenant = me.TenantId,
                    documentId,
                    type,
                    user = me.UserId,
                    reason,
                    currentVersion,
                    ttl = options.Approvals.PendingTtl,
                    key = staged?.Key,
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
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE documents SET status = @status, row_version = row_version + 1, updated_at = now()
            WHERE tenant_id = @tenant AND id = @documentId
            """, new { status = type == ApprovalType.Delete ? "PendingDelete" : "PendingReplace", tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
        await audit.RecordAsync(c, tx, "approval.requested", "approval", request.Id,
            new { type, documentId, reason, replacement = staged is null ? null : new { staged.FileName, staged.Size, staged.Sha256 } }, ct: ct);
        await Notify.AdminsAsync(c, tx, me.TenantId, request, "approval.requested", $"{type} requested for {Notify.Document}",
            $"{me.Email} asks to {type.ToLowerInvariant()} it: {reason}", ct);
        return request.ToResponse();
    }

    /// <summary>
    /// Checks a request may be opened: the document exists and is not deleted, it is not on legal hold (for deletes),
    /// nothing is open on it. With <paramref name="forUpdate"/> the document row is locked, so requests on one document queue up.
    /// </summary>
    private static async Task<int> CheckOpenableDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, string type, bool forUpdate,
        CancellationToken ct)
    {
        var tenant = me.TenantId;
        await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct);
        var document = await c.QuerySingleOrDefaultAsync<(string Status, bool LegalHold, int CurrentVersion)?>(new CommandDefinition(
            $"SELECT status, legal_hold, current_version FROM documents WHERE tenant_id = @tenant AND id = @documentId{(forUpdate ? " FOR UPDATE" : "")}",
            new { tenant, documentId }, tx, cancellationToken: ct));
        if (document is not { } d || d.Status is "Deleted" or "Purged")
        {
            throw ApiProblem.NotFound("document");
        }
        if (type == ApprovalType.Delete && d.LegalHold)
        {
            throw ApiProblem.Conflict("document.legal_hold", "The document is on legal hold and cannot be deleted.");
        }
        if (d.Status != "Active")
        {
            throw AlreadyPending();
        }
        return d.CurrentVersion;
    }

    private static string ValidReason(string? reason)
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

    private static IResult Created(ApprovalResponse request) => Results.Created($"/api/v1/approvals/{request.Id}", request);
}
