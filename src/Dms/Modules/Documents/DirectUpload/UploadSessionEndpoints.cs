using System.Security.Cryptography;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.DirectUpload;

internal sealed record CreateUploadRequest(string FileName, long? Size, string? ContentType, string? Sha256);

internal sealed record UploadPartUrl(int Number, Uri Url);

internal sealed record UploadSessionResponse(
    Guid Id, string Status, string FileName, long? Size, DateTime ExpiresAt, string Method, Uri? Url,
    IReadOnlyList<UploadPartUrl>? Parts, long? PartSize, IReadOnlyDictionary<string, string> Headers, Guid? DocumentId);

internal sealed record CompleteUploadRequest(
    string? Title, string? Description, string? WorkspaceId, string? FolderId, string[]? Tags, CompletedPart[]? Parts);

internal sealed record CompletedPart(int Number, string ETag);

/// <summary>
/// Direct upload: <c>POST /api/v1/uploads</c> hands out presigned URLs, the client sends the bytes straight
/// to storage, <c>POST /api/v1/uploads/{id}/complete</c> turns them into a document. The server verifies
/// what arrived (size, type by content, SHA-256 when declared) on a key the client cannot write to.
/// </summary>
internal static class UploadSessionEndpoints
{
    private const int MaxParts = 10_000;
    private static readonly IReadOnlyDictionary<string, string> NoHeaders = new Dictionary<string, string>();

    public static async Task<IResult> Create(HttpContext http, CreateUploadRequest body, Db db, IBlobStore blobs, IOptions<DmsOptions> options,
        TimeProvider clock, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var limits = options.Value.Uploads;
        var fileName = FileNames.Sanitize(body.FileName);
        var sha256 = body.Sha256?.Trim().ToLowerInvariant();
        new Validator()
            .Require(!string.IsNullOrWhiteSpace(body.FileName), "fileName", "fileName is required.")
            .Require(body.Size is >= 0, "size", "size (in bytes) is required and cannot be negative.")
            .Require(sha256 is null || (sha256.Length == 64 && sha256.All(char.IsAsciiHexDigit)), "sha256", "sha256 must be 64 hex digits.")
            .Require(body.ContentType is null || (body.ContentType.Length <= 200 && !body.ContentType.Any(char.IsControl)), "contentType", "contentType is at most 200 characters.")
            .ThrowIfInvalid();
        var size = body.Size!.Value;
        if (size > limits.MaxBytes)
        {
            throw new ApiProblem(StatusCodes.Status413PayloadTooLarge, "document.too_large", $"The file is larger than the limit of {limits.MaxBytes} bytes.");
        }
        if (FileKind.ForExtension(fileName) is not { } kind || !limits.AllowedTypeList.Contains(kind.Name, StringComparer.OrdinalIgnoreCase))
        {
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "document.type_not_allowed",
                $"Files of this type are not accepted. Allowed: {string.Join(", ", limits.AllowedTypeList)}.");
        }

        var id = Guid.CreateVersion7();
        var documentId = Guid.CreateVersion7();
        var versionId = Guid.CreateVersion7();
        var staging = BlobKeys.ForStaging(me.TenantId, id);
        var expires = clock.GetUtcNow() + limits.SessionTtl;
        var apiBase = ApiBase.From(http, options.Value);
        Uri? url = null;
        List<UploadPartUrl>? parts = null;
        string? multipartId = null;
        long? partSize = null;
        if (size > limits.MultipartThreshold)
        {
            partSize = Math.Max(limits.PartSize, (size + MaxParts - 1) / MaxParts);
            var count = (int)((size + partSize.Value - 1) / partSize.Value);
            multipartId = await blobs.StartMultipartAsync(staging, ct);
            parts = Enumerable.Range(1, count)
                // Each part's URL is bound to that part's exact size (the last one is the remainder).
                .Select(n => new UploadPartUrl(n, blobs.PresignPart(staging, multipartId, n,
                    n < count ? partSize.Value : size - ((count - 1) * partSize.Value), expires, apiBase)))
                .ToList();
        }
        else
        {
            url = blobs.PresignPut(staging, size, expires, apiBase);
        }

        await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO upload_sessions (id, tenant_id, created_by, kind, status, file_name, declared_size, declared_sha256, declared_content_type,
                                         staging_key, final_key, document_id, version_id, multipart_upload_id, part_size, part_count, expires_at)
            VALUES (@id, @tenant, @user, 'Direct', 'Pending', @fileName, @size, @sha256, @contentType,
                    @staging, @final, @documentId, @versionId, @multipartId, @partSize, @partCount, @expires)
            """,
            new
            {
                id,
                tenant = me.TenantId,
                user = me.UserId,
                fileName,
                size,
                sha256,
                contentType = body.ContentType,
                staging,
                final = BlobKeys.ForVersion(me.TenantId, documentId, versionId),
                documentId,
                versionId,
                multipartId,
                partSize,
                partCount = parts?.Count,
                expires = expires.UtcDateTime,
            }, tx, cancellationToken: ct)), ct);

        var response = new UploadSessionResponse(id, "Pending", fileName, size, expires.UtcDateTime, "PUT", url, parts, partSize, NoHeaders, null);
        return Results.Created($"/api/v1/uploads/{id}", response);
    }

    public static async Task<IResult> Get(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var session = await LoadAsync(db, me, RouteIds.Parse(id), ct);
        return Results.Ok(new UploadSessionResponse(session.Id, session.Status, session.FileName, session.DeclaredSize, session.ExpiresAt, "PUT",
            null, null, session.PartSize, NoHeaders, session.Status == "Completed" ? session.DocumentId : null));
    }

    public static async Task<IResult> Abort(HttpContext http, string id, Db db, IBlobStore blobs, ILoggerFactory loggers, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var session = await LoadAsync(db, me, RouteIds.Parse(id), ct);
        if (session.Status == "Verifying")
        {
            throw InProgress();
        }
        var aborted = await db.InTenantAsync(me.TenantId, (c, tx) => UploadSessions.FinishAsync(c, tx, me.TenantId, session.Id, "Aborted", null, cleaned: false, ct), ct);
        if (aborted == 0)
        {
            throw NotPending();
        }
        await CleanUpAsync(db, blobs, me.TenantId, session, loggers.CreateLogger("Dms.Uploads"), ct);
        return Results.NoContent();
    }

    public static async Task<IResult> Complete(HttpContext http, string id, CompleteUploadRequest body, Db db, IBlobStore blobs,
        IOptions<DmsOptions> options, ILoggerFactory loggers, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var sessionId = RouteIds.Parse(id);
        var logger = loggers.CreateLogger("Dms.Uploads");
        var v = new Validator();
        var title = body.Title?.Trim();
        v.Require(title is null || DocumentFields.IsValidTitle(title), "title", $"title must be 1-{DocumentFields.TitleMax} characters without control characters.");
        v.Require(DocumentFields.IsValidDescription(body.Description), "description", $"description is at most {DocumentFields.DescriptionMax} characters.");
        var tags = Tags.NormalizeAll(body.Tags ?? [], v);
        v.ThrowIfInvalid();
        var workspaceId = RouteIds.ParseOptional(body.WorkspaceId, "workspaceId");
        var folderId = RouteIds.ParseOptional(body.FolderId, "folderId");

        var document = await CompleteClaimedAsync(db, blobs, options.Value, me, sessionId, body.Parts, logger,
            (c, tx) => Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct),
            async (c, tx, verified) =>
            {
                // Checked again: the caller's access may have changed while the bytes were verified.
                var (ws, folder) = await Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct);
                var session = verified.Session;
                var docTitle = string.IsNullOrEmpty(title) ? DocumentFields.TitleFromFileName(session.FileName) : title;
                await c.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO documents (id, tenant_id, workspace_id, folder_id, title, description, tags, current_version, created_by, updated_by)
                    VALUES (@DocumentId, @Tenant, @ws, @folder, @docTitle, @Description, @tags, 1, @User, @User);
                    INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
                    VALUES (@VersionId, @Tenant, @DocumentId, 1, @FinalKey, @Size, @Sha256, @ContentType, @FileName, @User);
                    """,
                    new
                    {
                        session.DocumentId,
                        session.VersionId,
                        session.FinalKey,
                        session.FileName,
                        Tenant = me.TenantId,
                        User = me.UserId,
                        ws,
                        folder,
                        docTitle,
                        body.Description,
                        tags,
                        verified.Size,
                        verified.Sha256,
                        verified.Kind.ContentType,
                    }, tx, cancellationToken: ct));
                await ConsumeAsync(c, tx, me.TenantId, verified, session.DocumentId, ct);
                await audit.RecordAsync(c, tx, "document.uploaded", "document", session.DocumentId,
                    new { title = docTitle, session.FileName, verified.Size, verified.Sha256, verified.Kind.ContentType, via = "direct", uploadId = session.Id }, ct: ct);
                return (await DocumentReadModel.GetAsync(c, tx, me.TenantId, session.DocumentId, ct))!;
            }, ct);
        http.Response.Headers.ETag = document.ETag();
        return Results.Created($"/api/v1/documents/{document.Id}", document);
    }

    internal sealed record VerifiedUpload(UploadSessionRow Session, Guid ClaimId, long Size, string Sha256, FileKind Kind);

    /// <summary>
    /// Turns a Pending direct-upload session of the caller into what <paramref name="finish"/> makes of it, without holding
    /// a row lock during storage I/O: a short transaction runs <paramref name="precheck"/> and claims the session
    /// (Pending → Verifying), the bytes are joined, moved and verified with no transaction open, and a second short
    /// transaction runs <paramref name="finish"/>, which must call <see cref="ConsumeAsync"/>. A verification that
    /// fails ends the session Failed; anything else that stops it (the client went away, storage or database
    /// trouble, a refusal in <paramref name="finish"/>) gives the claim back, so the session can be completed again.
    /// </summary>
    internal static async Task<T> CompleteClaimedAsync<T>(Db db, IBlobStore blobs, DmsOptions options, CurrentUser me, Guid sessionId,
        CompletedPart[]? parts, ILogger logger, Func<NpgsqlConnection, NpgsqlTransaction, Task> precheck,
        Func<NpgsqlConnection, NpgsqlTransaction, VerifiedUpload, Task<T>> finish, CancellationToken ct)
    {
        var claimId = Guid.CreateVersion7();
        var (session, refusal, expired) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await precheck(c, tx);
            return await ClaimAsync(c, tx, me, sessionId, claimId, ct);
        }, ct);
        if (expired)
        {
            await CleanUpAsync(db, blobs, me.TenantId, session, logger, CancellationToken.None);
        }
        if (refusal is not null)
        {
            throw refusal;
        }
        var finished = false;
        try
        {
            var verified = await VerifyClaimedAsync(db, blobs, options, me, session, claimId, parts, ct);
            var result = await db.InTenantAsync(me.TenantId, (c, tx) => finish(c, tx, verified), ct);
            finished = true;
            return result;
        }
        finally
        {
            if (!finished)
            {
                await ReleaseClaimAsync(db, me.TenantId, sessionId, claimId, logger);
            }
        }
    }

    private static async Task<(UploadSessionRow Session, ApiProblem? Refusal, bool Expired)> ClaimAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me,
        Guid sessionId, Guid claimId, CancellationToken ct)
    {
        var session = await LockAsync(c, tx, me, sessionId, ct);
        switch (session.Status)
        {
            case "Verifying":
                return (session, InProgress(), false);
            case "Expired":
                // The reconciliation job swept it before the client came back: the same answer as expiring it here.
                return (session, Expired(), false);
            case not "Pending":
                return (session, NotPending(), false);
        }
        if (session.ExpiresAt <= DateTime.UtcNow)
        {
            await UploadSessions.FinishAsync(c, tx, me.TenantId, session.Id, "Expired", null, cleaned: false, ct);
            return (session, Expired(), true);
        }
        await UploadSessions.ClaimAsync(c, tx, me.TenantId, session.Id, claimId, ct);
        return (session, null, false);
    }

    private static async Task ReleaseClaimAsync(Db db, Guid tenant, Guid sessionId, Guid claimId, ILogger logger)
    {
        try
        {
            // Not the request's token: the client that went away is the usual reason to be here.
            await db.InTenantAsync(tenant, (c, tx) => UploadSessions.ReleaseAsync(c, tx, tenant, sessionId, claimId, CancellationToken.None), CancellationToken.None);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            logger.LogWarning(ex, "Could not give back the claim on upload session {SessionId}; it lapses and reconciliation releases it", sessionId);
        }
    }

    /// <summary>
    /// Verifies a claimed session's bytes: parts joined, bytes present and of the declared size, moved to the
    /// server-only final key, type and SHA-256 checked there. A failed check removes the bytes and ends the
    /// session Failed; a missing object or wrong parts only refuse (the claim is given back by the caller).
    /// </summary>
    private static async Task<VerifiedUpload> VerifyClaimedAsync(Db db, IBlobStore blobs, DmsOptions options, CurrentUser me, UploadSessionRow session,
        Guid claimId, CompletedPart[]? partsIn, CancellationToken ct)
    {
        // An earlier attempt may have been interrupted after it moved the bytes: then they are verified where they are.
        var alreadyMoved = await blobs.HeadAsync(session.FinalKey, ct);
        if (alreadyMoved is null && session.MultipartUploadId is { } multipartId && await blobs.HeadAsync(session.StagingKey, ct) is null)
        {
            var parts = partsIn ?? [];
            if (parts.Length != session.PartCount || parts.Any(p => p is null) ||
                parts.Select(p => p.Number).Order().SequenceEqual(Enumerable.Range(1, parts.Length)) is false)
            {
                throw Unprocessable("upload.parts_invalid", $"Send all {session.PartCount} parts as [{{number, etag}}] with the ETag each part PUT returned.");
            }
            try
            {
                await blobs.CompleteMultipartAsync(session.StagingKey, multipartId,
                    parts.OrderBy(p => p.Number).Select(p => new BlobPart(p.Number, p.ETag ?? "")).ToList(), ct);
            }
            catch (BlobPartsInvalidException ex)
            {
                throw Unprocessable("upload.parts_invalid", ex.Message);
            }
        }

        var staged = alreadyMoved ?? await blobs.HeadAsync(session.StagingKey, ct)
            ?? throw Unprocessable("upload.object_missing", "Nothing has been uploaded to this session's URL yet.");
        if (staged.Size != session.DeclaredSize)
        {
            throw await FailAsync(db, blobs, me, session, claimId, "upload.size_mismatch", $"{staged.Size} bytes arrived but {session.DeclaredSize} were declared.");
        }

        // From here on the bytes sit where only the server writes: a leaked upload URL changes nothing.
        if (alreadyMoved is null)
        {
            await blobs.MoveAsync(session.StagingKey, session.FinalKey, ct);
        }
        var inspection = await InspectAsync(blobs, session.FinalKey, ct);
        // Measured on the moved bytes: a PUT that raced the move cannot change what is recorded.
        if (inspection.Size != session.DeclaredSize)
        {
            throw await FailAsync(db, blobs, me, session, claimId, "upload.size_mismatch", $"{inspection.Size} bytes arrived but {session.DeclaredSize} were declared.");
        }
        var (kind, refusal) = FileKind.Classify(session.FileName, inspection.Head, options.Uploads.AllowedTypeList);
        if (kind is null)
        {
            throw await FailAsync(db, blobs, me, session, claimId, $"upload.{refusal}",
                refusal == "content_mismatch" ? "The file's content does not match its type." : "Files of this type are not accepted.");
        }
        if (session.DeclaredSha256 is { } declared && declared != inspection.Sha256)
        {
            throw await FailAsync(db, blobs, me, session, claimId, "upload.checksum_mismatch",
                $"The SHA-256 of what arrived is {inspection.Sha256}, not the declared {declared}.");
        }
        return new VerifiedUpload(session, claimId, inspection.Size, inspection.Sha256, kind);
    }

    /// <summary>
    /// The session's bytes now belong to <paramref name="documentId"/>: it ends as Completed, in the caller's transaction.
    /// Throws when the claim was lost meanwhile (it lapsed and another completion took the session).
    /// </summary>
    internal static async Task ConsumeAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, VerifiedUpload verified, Guid documentId, CancellationToken ct)
    {
        var sessionId = verified.Session.Id;
        if (await UploadSessions.FinishAsync(c, tx, tenant, sessionId, "Completed", null, cleaned: false, ct, verified.ClaimId) == 0)
        {
            throw InProgress();
        }
        await c.ExecuteAsync(new CommandDefinition("UPDATE upload_sessions SET document_id = @documentId WHERE tenant_id = @tenant AND id = @sessionId",
            new { documentId, tenant, sessionId }, tx, cancellationToken: ct));
    }

    /// <summary>Verification failed: the blobs are removed and the session ends as Failed. Runs to its end even if the client went away.</summary>
    private static async Task<ApiProblem> FailAsync(Db db, IBlobStore blobs, CurrentUser me, UploadSessionRow session, Guid claimId, string code, string detail)
    {
        await blobs.DeleteAsync(session.StagingKey, CancellationToken.None);
        await blobs.DeleteAsync(session.FinalKey, CancellationToken.None);
        await db.InTenantAsync(me.TenantId, (c, tx) =>
            UploadSessions.FinishAsync(c, tx, me.TenantId, session.Id, "Failed", code, cleaned: true, CancellationToken.None, claimId), CancellationToken.None);
        return Unprocessable(code, detail);
    }

    private sealed record Inspection(ReadOnlyMemory<byte> Head, string Sha256, long Size);

    /// <summary>Reads the stored blob once: its first bytes for type sniffing and its SHA-256.</summary>
    private static async Task<Inspection> InspectAsync(IBlobStore blobs, string key, CancellationToken ct)
    {
        await using var stream = await blobs.OpenReadAsync(key, 0, null, ct)
            ?? throw new InvalidOperationException($"Blob {key} vanished right after it was moved.");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var head = new byte[FileKind.SniffLength];
        var headLength = 0;
        var buffer = new byte[81920];
        long size = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            size += read;
            var toHead = Math.Min(read, head.Length - headLength);
            buffer.AsSpan(0, toHead).CopyTo(head.AsSpan(headLength));
            headLength += toHead;
            hash.AppendData(buffer, 0, read);
        }
        return new Inspection(head.AsMemory(0, headLength), Convert.ToHexString(hash.GetCurrentHash()).ToLowerInvariant(), size);
    }

    /// <summary>Best effort after the session ended; what fails here the reconciliation job removes later.</summary>
    internal static async Task CleanUpAsync(Db db, IBlobStore blobs, Guid tenant, UploadSessionRow session, ILogger logger, CancellationToken ct)
    {
        try
        {
            if (session.MultipartUploadId is { } multipartId)
            {
                await blobs.AbortMultipartAsync(session.StagingKey, multipartId, ct);
            }
            await blobs.DeleteAsync(session.StagingKey, ct);
            await db.InTenantAsync(tenant, (c, tx) => c.ExecuteAsync(new CommandDefinition(
                "UPDATE upload_sessions SET cleaned_at = now() WHERE tenant_id = @tenant AND id = @id",
                new { tenant, id = session.Id }, tx, cancellationToken: ct)), ct);
        }
        catch (Exception ex) when (ex is BlobStoreUnavailableException or IOException)
        {
            logger.LogWarning(ex, "Could not yet remove the staged upload of session {SessionId}; reconciliation will", session.Id);
        }
    }

    private static async Task<UploadSessionRow> LoadAsync(Db db, CurrentUser me, Guid id, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<UploadSessionRow>(new CommandDefinition(
            $"SELECT {UploadSessions.Columns} FROM upload_sessions WHERE tenant_id = @tenant AND id = @id AND kind = 'Direct' AND (created_by = @user OR @admin)",
            new { tenant = me.TenantId, id, user = me.UserId, admin = me.IsAdmin }, tx, cancellationToken: ct)), ct)
        ?? throw ApiProblem.NotFound("upload");

    private static async Task<UploadSessionRow> LockAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid id, CancellationToken ct)
    {
        try
        {
            return await c.QuerySingleOrDefaultAsync<UploadSessionRow>(new CommandDefinition(
                $"SELECT {UploadSessions.Columns} FROM upload_sessions WHERE tenant_id = @tenant AND id = @id AND kind = 'Direct' AND (created_by = @user OR @admin) FOR UPDATE NOWAIT",
                new { tenant = me.TenantId, id, user = me.UserId, admin = me.IsAdmin }, tx, cancellationToken: ct))
                ?? throw ApiProblem.NotFound("upload");
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw InProgress();
        }
    }

    private static ApiProblem InProgress() =>
        ApiProblem.Conflict("upload.in_progress", "This upload is being completed or aborted by another request.");

    private static ApiProblem Expired() =>
        new(StatusCodes.Status410Gone, "upload.expired", "The upload session has expired; start a new one.");

    private static ApiProblem NotPending() =>
        ApiProblem.Conflict("upload.not_pending", "The upload session was already completed, aborted, expired or failed.");

    private static ApiProblem Unprocessable(string code, string detail) =>
        new(StatusCodes.Status422UnprocessableEntity, code, "The uploaded file cannot become a document.", detail);
}
