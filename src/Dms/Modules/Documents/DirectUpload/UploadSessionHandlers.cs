using System.Text.Json;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Duplicates;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.DirectUpload;

/// <summary>Start a direct upload; <paramref name="ApiBase"/> is where signed URLs of the FileSystem provider point.
/// <paramref name="TypeId"/> and <paramref name="Fields"/> (a JSON object) put the document into a type, checked here as the streamed upload checks them.</summary>
internal sealed record CreateUpload(string? FileName, long? Size, string? ContentType, string? Sha256, Uri ApiBase, string? TypeId = null,
    JsonElement? Fields = null);

internal sealed class CreateUploadHandler(Db db, IBlobStore blobs, IOptions<DmsOptions> options, TimeProvider clock)
    : IHandler<CreateUpload, UploadSessionResponse>
{
    private const int MaxParts = 10_000;

    public async Task<UploadSessionResponse> HandleAsync(CreateUpload command, CurrentUser me, CancellationToken ct)
    {
        var limits = options.Value.Uploads;
        var fileName = FileNames.Sanitize(command.FileName);
        var sha256 = command.Sha256?.Trim().ToLowerInvariant();
        new Validator()
            .Require(!string.IsNullOrWhiteSpace(command.FileName), "fileName", "fileName is required.")
            .Require(command.Size is >= 0, "size", "size (in bytes) is required and cannot be negative.")
            .Require(sha256 is null || (sha256.Length == 64 && sha256.All(char.IsAsciiHexDigit)), "sha256", "sha256 must be 64 hex digits.")
            .Require(command.ContentType is null || (command.ContentType.Length <= 200 && !command.ContentType.Any(char.IsControl)), "contentType", "contentType is at most 200 characters.")
            .ThrowIfInvalid();
        var size = command.Size!.Value;
        var maxFile = await db.InTenantAsync(me.TenantId, (c, tx) => StorageUsage.MaxFileAsync(c, tx, me.TenantId, limits.MaxBytes, ct), ct);
        if (size > maxFile.Bytes)
        {
            throw maxFile.TooLarge();
        }
        if (FileKind.ForExtension(fileName) is not { } kind || !limits.AllowedTypeList.Contains(kind.Name, StringComparer.OrdinalIgnoreCase))
        {
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "document.type_not_allowed",
                $"Files of this type are not accepted. Allowed: {string.Join(", ", limits.AllowedTypeList)}.");
        }

        // Before any storage is touched: a missing required field is the caller's to fix before sending bytes.
        var typeId = Types.DocumentTyping.ParseTypeId(command.TypeId);
        var fieldChanges = command.Fields is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } given
            ? Types.DocumentTyping.ParseFieldsText(given.GetRawText())
            : null;
        var typed = await db.InTenantAsync(me.TenantId, (c, tx) => Types.DocumentTyping.ResolveAsync(c, tx, me.TenantId, typeId, null, fieldChanges, ct), ct);

        var id = Guid.CreateVersion7();
        var documentId = Guid.CreateVersion7();
        var versionId = Guid.CreateVersion7();
        var staging = BlobKeys.ForStaging(me.TenantId, id);
        var expires = clock.GetUtcNow() + limits.SessionTtl;
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
                    n < count ? partSize.Value : size - ((count - 1) * partSize.Value), expires, command.ApiBase)))
                .ToList();
        }
        else
        {
            url = blobs.PresignPut(staging, size, expires, command.ApiBase);
        }

        try
        {
            // The declared size is reserved with the session, under the tenant's counter lock: a refusal stores nothing.
            await db.InTenantAsync(me.TenantId, async (c, tx) =>
            {
                await StorageUsage.ReserveAsync(c, tx, me.TenantId, size, ct);
                return await c.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO upload_sessions (id, tenant_id, created_by, kind, status, file_name, declared_size, declared_sha256, declared_content_type,
                                         staging_key, final_key, document_id, version_id, multipart_upload_id, part_size, part_count, expires_at,
                                         type_id, fields, reserved_bytes)
            VALUES (@id, @tenant, @user, {UploadSessionKind.Direct.Sql()}, {UploadSessionStatus.Pending.Sql()}, @fileName, @size, @sha256, @contentType,
                    @staging, @final, @documentId, @versionId, @multipartId, @partSize, @partCount, @expires,
                    @typeId, @fields::jsonb, @size)
            """,
            new
            {
                id,
                tenant = me.TenantId,
                user = me.UserId,
                fileName,
                size,
                sha256,
                contentType = command.ContentType,
                staging,
                final = BlobKeys.ForVersion(me.TenantId, documentId, versionId),
                documentId,
                versionId,
                multipartId,
                partSize,
                partCount = parts?.Count,
                expires = expires.UtcDateTime,
                typeId = typed.TypeId,
                fields = typed.TypeId is null ? null : typed.Fields,
            }, tx, cancellationToken: ct));
            }, ct);
        }
        catch when (multipartId is not null)
        {
            // No session records the multipart upload started above: end it here (best effort; it holds no data yet).
            await AbortQuietlyAsync(staging, multipartId);
            throw;
        }

        DmsTelemetry.UploadSessions.Add(1, new KeyValuePair<string, object?>("outcome", "created"));
        return new UploadSessionResponse(id, UploadSessionStatus.Pending, fileName, size, expires.UtcDateTime, "PUT", url, parts, partSize,
            UploadSessionResponse.NoHeaders, null);
    }

    private async Task AbortQuietlyAsync(string staging, string multipartId)
    {
        try
        {
            await blobs.AbortMultipartAsync(staging, multipartId, CancellationToken.None);
        }
        catch (Exception ex) when (ex is BlobStoreUnavailableException or IOException)
        {
            // Nothing was uploaded to it; the store's own expiry of incomplete multipart uploads ends it.
        }
    }
}

internal sealed record GetUpload(Guid UploadId);

internal sealed class GetUploadHandler(DirectUploads uploads) : IHandler<GetUpload, UploadSessionResponse>
{
    public async Task<UploadSessionResponse> HandleAsync(GetUpload query, CurrentUser me, CancellationToken ct)
    {
        var session = await uploads.LoadAsync(me, query.UploadId, ct);
        return new UploadSessionResponse(session.Id, session.Status, session.FileName, session.DeclaredSize, session.ExpiresAt, "PUT",
            null, null, session.PartSize, UploadSessionResponse.NoHeaders, session.Status == UploadSessionStatus.Completed ? session.DocumentId : null);
    }
}

internal sealed record AbortUpload(Guid UploadId);

internal sealed class AbortUploadHandler(Db db, DirectUploads uploads) : IHandler<AbortUpload, bool>
{
    public async Task<bool> HandleAsync(AbortUpload command, CurrentUser me, CancellationToken ct)
    {
        var session = await uploads.LoadAsync(me, command.UploadId, ct);
        if (session.Status == UploadSessionStatus.Verifying)
        {
            throw DirectUploads.InProgress();
        }
        var aborted = await db.InTenantAsync(me.TenantId, (c, tx) =>
            UploadSessions.FinishAsync(c, tx, me.TenantId, session.Id, UploadSessionStatus.Aborted, null, cleaned: false, ct), ct);
        if (aborted == 0)
        {
            throw DirectUploads.NotPending();
        }
        await uploads.CleanUpAsync(me.TenantId, session, ct);
        return true;
    }
}

/// <summary>Turn a direct upload's verified bytes into a new document; workspace and folder ids as the client sent them.</summary>
internal sealed record CompleteUpload(Guid UploadId, string? Title, string? Description, string? WorkspaceId, string? FolderId, string[]? Tags,
    IReadOnlyList<CompletedPart>? Parts);

internal sealed class CompleteUploadHandler(DirectUploads uploads, AuditTrail audit) : IHandler<CompleteUpload, DocumentResponse>
{
    public async Task<DocumentResponse> HandleAsync(CompleteUpload command, CurrentUser me, CancellationToken ct)
    {
        var v = new Validator();
        var title = command.Title?.Trim();
        v.Require(title is null || DocumentFields.IsValidTitle(title), "title", $"title must be 1-{DocumentFields.TitleMax} characters without control characters.");
        v.Require(DocumentFields.IsValidDescription(command.Description), "description", $"description is at most {DocumentFields.DescriptionMax} characters.");
        var tags = Tags.NormalizeAll(command.Tags ?? [], v);
        v.ThrowIfInvalid();
        var workspaceId = RouteIds.ParseOptional(command.WorkspaceId, "workspaceId");
        var folderId = RouteIds.ParseOptional(command.FolderId, "folderId");

        return await uploads.CompleteAsync(me, command.UploadId, command.Parts,
            (c, tx) => Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct),
            async (c, tx, session, content) =>
            {
                // Checked again: the caller's access may have changed while the bytes were verified.
                var (ws, folder) = await Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct);
                var duplicateOf = await DuplicateCheck.CheckAsync(c, tx, me, session.DocumentId, content.Sha256, ct);
                var docTitle = string.IsNullOrEmpty(title) ? DocumentFields.TitleFromFileName(content.FileName) : title;
                // The values were checked at creation; checked again against the type as it is now (it may have changed meanwhile).
                var typed = await Types.DocumentTyping.ResolveAsync(c, tx, me.TenantId, session.TypeId, null, StoredValues(session), ct);
                // Before the version insert, which takes the tenant's storage counter row until COMMIT (as in UploadDocumentHandler).
                await DocumentUploads.ConsumeBeforeNewVersionAsync(c, tx, me.TenantId, content, session.DocumentId, ct);
                await NewDocuments.InsertAsync(c, tx, me, new NewDocument(session.DocumentId, ws, folder, docTitle, command.Description, tags, content)
                {
                    Typed = typed,
                }, ct);
                await audit.RecordAsync(c, tx, "document.uploaded", "document", session.DocumentId,
                    new
                    {
                        title = docTitle,
                        content.FileName,
                        content.Size,
                        content.Sha256,
                        content.ContentType,
                        via = "direct",
                        uploadId = session.Id,
                        typed.TypeId,
                        fields = Types.StoredFields.Parse(typed.Fields),
                    }, ct: ct);
                return (await DocumentReadModel.GetAsync(c, tx, me.TenantId, session.DocumentId, ct))! with { DuplicateOf = duplicateOf };
            }, ct);
    }

    private static JsonElement? StoredValues(UploadSessionRow session)
    {
        if (session.Fields is null)
        {
            return null;
        }
        using var doc = JsonDocument.Parse(session.Fields);
        return doc.RootElement.Clone();
    }
}
