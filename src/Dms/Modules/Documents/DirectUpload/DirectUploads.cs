using System.Security.Cryptography;
using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.DirectUpload;

/// <summary>
/// The machinery of direct uploads shared by their use cases (and, through <see cref="DocumentUploads"/>, by replace
/// requests): load and lock a session, claim it, verify its bytes on a key the client cannot write to, clean up.
/// </summary>
internal sealed class DirectUploads(Db db, IBlobStore blobs, IOptions<DmsOptions> options, TimeProvider clock, ILogger<DirectUploads> logger)
{
    /// <summary>
    /// Turns a Pending direct-upload session of the caller into what <paramref name="finish"/> makes of it, without holding
    /// a row lock during storage I/O: a short transaction runs <paramref name="precheck"/> and claims the session
    /// (Pending → Verifying), the bytes are joined, moved and verified with no transaction open, and a second short
    /// transaction runs <paramref name="finish"/>, which must call <see cref="DocumentUploads.ConsumeAsync"/>. A verification that
    /// fails ends the session Failed; anything else that stops it (the client went away, storage or database
    /// trouble, a refusal in <paramref name="finish"/>) gives the claim back, so the session can be completed again.
    /// </summary>
    public async Task<T> CompleteAsync<T>(CurrentUser me, Guid sessionId, IReadOnlyList<CompletedPart>? parts, Func<NpgsqlConnection, NpgsqlTransaction, Task> precheck,
        Func<NpgsqlConnection, NpgsqlTransaction, UploadSessionRow, StagedContent, Task<T>> finish, CancellationToken ct)
    {
        var claimId = Guid.CreateVersion7();
        var (session, refusal, expired) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await precheck(c, tx);
            return await ClaimAsync(c, tx, me, sessionId, claimId, ct);
        }, ct);
        if (expired)
        {
            await CleanUpAsync(me.TenantId, session, CancellationToken.None);
        }
        if (refusal is not null)
        {
            throw refusal;
        }
        var finished = false;
        try
        {
            var staged = await VerifyClaimedAsync(me, session, claimId, parts, ct);
            var result = await db.InTenantAsync(me.TenantId, (c, tx) => finish(c, tx, session, staged), ct);
            finished = true;
            return result;
        }
        finally
        {
            if (!finished)
            {
                await ReleaseClaimAsync(me.TenantId, sessionId, claimId);
            }
        }
    }

    private async Task<(UploadSessionRow Session, ApiProblem? Refusal, bool Expired)> ClaimAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me,
        Guid sessionId, Guid claimId, CancellationToken ct)
    {
        var session = await LockAsync(c, tx, me, sessionId, ct);
        switch (session.Status)
        {
            case UploadSessionStatus.Verifying:
                return (session, InProgress(), false);
            case UploadSessionStatus.Expired:
                // The reconciliation job swept it before the client came back: the same answer as expiring it here.
                return (session, Expired(), false);
            case not UploadSessionStatus.Pending:
                return (session, NotPending(), false);
        }
        if (session.ExpiresAt <= clock.GetUtcNow().UtcDateTime)
        {
            await UploadSessions.FinishAsync(c, tx, me.TenantId, session.Id, UploadSessionStatus.Expired, null, cleaned: false, ct);
            return (session, Expired(), true);
        }
        await UploadSessions.ClaimAsync(c, tx, me.TenantId, session.Id, claimId, ct);
        return (session, null, false);
    }

    private async Task ReleaseClaimAsync(Guid tenant, Guid sessionId, Guid claimId)
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
    private async Task<StagedContent> VerifyClaimedAsync(CurrentUser me, UploadSessionRow session, Guid claimId, IReadOnlyList<CompletedPart>? partsIn,
        CancellationToken ct)
    {
        // An earlier attempt may have been interrupted after it moved the bytes: then they are verified where they are.
        var alreadyMoved = await blobs.HeadAsync(session.FinalKey, ct);
        if (alreadyMoved is null && session.MultipartUploadId is { } multipartId && await blobs.HeadAsync(session.StagingKey, ct) is null)
        {
            var parts = partsIn ?? [];
            if (parts.Count != session.PartCount || parts.Any(p => p is null) ||
                parts.Select(p => p.Number).Order().SequenceEqual(Enumerable.Range(1, parts.Count)) is false)
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
            throw await FailAsync(me, session, claimId, "upload.size_mismatch", $"{staged.Size} bytes arrived but {session.DeclaredSize} were declared.");
        }

        // From here on the bytes sit where only the server writes: a leaked upload URL changes nothing.
        if (alreadyMoved is null)
        {
            await blobs.MoveAsync(session.StagingKey, session.FinalKey, ct);
        }
        var inspection = await InspectAsync(session.FinalKey, ct);
        // Measured on the moved bytes: a PUT that raced the move cannot change what is recorded.
        if (inspection.Size != session.DeclaredSize)
        {
            throw await FailAsync(me, session, claimId, "upload.size_mismatch", $"{inspection.Size} bytes arrived but {session.DeclaredSize} were declared.");
        }
        var (kind, refusal) = FileKind.Classify(session.FileName, inspection.Head, options.Value.Uploads.AllowedTypeList);
        if (kind is null)
        {
            throw await FailAsync(me, session, claimId, $"upload.{refusal}",
                refusal == "content_mismatch" ? "The file's content does not match its type." : "Files of this type are not accepted.");
        }
        if (session.DeclaredSha256 is { } declared && declared != inspection.Sha256)
        {
            throw await FailAsync(me, session, claimId, "upload.checksum_mismatch",
                $"The SHA-256 of what arrived is {inspection.Sha256}, not the declared {declared}.");
        }
        DmsTelemetry.UploadBytes.Add(inspection.Size, new KeyValuePair<string, object?>("kind", "direct"));
        DmsTelemetry.UploadSessions.Add(1, new KeyValuePair<string, object?>("outcome", "completed"));
        return new StagedContent(session.Id, session.FinalKey, session.VersionId, inspection.Size, inspection.Sha256, kind.ContentType, session.FileName, claimId);
    }

    /// <summary>Verification failed: the blobs are removed and the session ends as Failed. Runs to its end even if the client went away.</summary>
    private async Task<ApiProblem> FailAsync(CurrentUser me, UploadSessionRow session, Guid claimId, string code, string detail)
    {
        DmsTelemetry.UploadSessions.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
        await blobs.DeleteAsync(session.StagingKey, CancellationToken.None);
        await blobs.DeleteAsync(session.FinalKey, CancellationToken.None);
        await db.InTenantAsync(me.TenantId, (c, tx) =>
            UploadSessions.FinishAsync(c, tx, me.TenantId, session.Id, UploadSessionStatus.Failed, code, cleaned: true, CancellationToken.None, claimId), CancellationToken.None);
        return Unprocessable(code, detail);
    }

    private sealed record Inspection(ReadOnlyMemory<byte> Head, string Sha256, long Size);

    /// <summary>Reads the stored blob once: its first bytes for type sniffing and its SHA-256.</summary>
    private async Task<Inspection> InspectAsync(string key, CancellationToken ct)
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
    public async Task CleanUpAsync(Guid tenant, UploadSessionRow session, CancellationToken ct)
    {
        try
        {
            if (session.MultipartUploadId is { } multipartId)
            {
                await blobs.AbortMultipartAsync(session.StagingKey, multipartId, ct);
            }
            await blobs.DeleteAsync(session.StagingKey, ct);
            await db.InTenantAsync(tenant, (c, tx) => UploadSessions.MarkCleanedAsync(c, tx, tenant, session.Id, ct), ct);
        }
        catch (Exception ex) when (ex is BlobStoreUnavailableException or IOException)
        {
            logger.LogWarning(ex, "Could not yet remove the staged upload of session {SessionId}; reconciliation will", session.Id);
        }
    }

    /// <summary>The caller's direct-upload session (an admin's: anyone's); 404 <c>upload.not_found</c> otherwise.</summary>
    public async Task<UploadSessionRow> LoadAsync(CurrentUser me, Guid id, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<UploadSessionRow>(new CommandDefinition(
            $"SELECT {UploadSessions.Columns} FROM upload_sessions WHERE tenant_id = @tenant AND id = @id AND kind = {UploadSessionKind.Direct.Sql()} AND (created_by = @user OR @admin)",
            new { tenant = me.TenantId, id, user = me.UserId, admin = me.IsAdmin }, tx, cancellationToken: ct)), ct)
        ?? throw ApiProblem.NotFound("upload");

    private static async Task<UploadSessionRow> LockAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid id, CancellationToken ct)
    {
        try
        {
            return await c.QuerySingleOrDefaultAsync<UploadSessionRow>(new CommandDefinition(
                $"SELECT {UploadSessions.Columns} FROM upload_sessions WHERE tenant_id = @tenant AND id = @id AND kind = {UploadSessionKind.Direct.Sql()} AND (created_by = @user OR @admin) FOR UPDATE NOWAIT",
                new { tenant = me.TenantId, id, user = me.UserId, admin = me.IsAdmin }, tx, cancellationToken: ct))
                ?? throw ApiProblem.NotFound("upload");
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw InProgress();
        }
    }

    public static ApiProblem InProgress() =>
        ApiProblem.Conflict("upload.in_progress", "This upload is being completed or aborted by another request.");

    private static ApiProblem Expired() =>
        new(StatusCodes.Status410Gone, "upload.expired", "The upload session has expired; start a new one.");

    public static ApiProblem NotPending() =>
        ApiProblem.Conflict("upload.not_pending", "The upload session was already completed, aborted, expired or failed.");

    private static ApiProblem Unprocessable(string code, string detail) =>
        new(StatusCodes.Status422UnprocessableEntity, code, "The uploaded file cannot become a document.", detail);
}
