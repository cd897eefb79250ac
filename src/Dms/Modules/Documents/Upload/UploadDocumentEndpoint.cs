using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Dms.Modules.Documents.Upload;

/// <summary>
/// <c>POST /api/v1/documents</c> (multipart/form-data: <c>file</c>, <c>title</c>, <c>description</c>,
/// <c>workspaceId</c>, <c>folderId</c>, <c>tags</c>). The file part is sniffed from its first bytes, then
/// streamed to storage while it is hashed and measured; the rows are written only once the blob is
/// whole, and any failure removes the blob, so a failed upload leaves neither.
/// </summary>
internal static class UploadDocumentEndpoint
{
    private const int MaxFieldLength = 16 * 1024;
    private const int MaxSections = 64;
    // Room for the multipart framing and the text fields around the file.
    private const long FormOverhead = 1024 * 1024;

    public static Task<IResult> Handle(HttpContext http, Db db, IBlobStore blobs, IOptions<DmsOptions> options,
        ILogger<UploadRequest> logger, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        return WithStreamedFormAsync(http, me, Guid.CreateVersion7(), db, blobs, options.Value, logger, async upload =>
        {
            var document = await SaveAsync(db, audit, upload, ct);
            upload.Committed = true;
            http.Response.Headers.ETag = document.ETag();
            return Results.Created($"/api/v1/documents/{document.Id}", document);
        }, ct, beforeFile: upload =>
            // Refused before a byte of the file is read or stored; checked again when the rows are written.
            db.InTenantAsync(me.TenantId, (c, tx) => Placement.ResolveWritableAsync(c, tx, me, PlacementOf(upload).WorkspaceId, PlacementOf(upload).FolderId, ct), ct));
    }

    private static readonly string[] PlacementFields = ["workspaceId", "folderId"];

    private static (Guid? WorkspaceId, Guid? FolderId) PlacementOf(UploadRequest upload) =>
        (RouteIds.ParseOptional(upload.Field("workspaceId"), "workspaceId"), RouteIds.ParseOptional(upload.Field("folderId"), "folderId"));

    /// <summary>
    /// Reads a streamed multipart form whose <c>file</c> part becomes a new version blob of
    /// <paramref name="documentId"/>, then runs <paramref name="save"/>, which must set
    /// <see cref="UploadRequest.Committed"/> once its rows are written; otherwise the blob is removed.
    /// <paramref name="beforeFile"/> runs when the file part starts, with the fields sent before it, and refuses by throwing.
    /// </summary>
    internal static async Task<IResult> WithStreamedFormAsync(HttpContext http, CurrentUser me, Guid documentId, Db db, IBlobStore blobs,
        DmsOptions options, ILogger logger, Func<UploadRequest, Task<IResult>> save, CancellationToken ct, Func<UploadRequest, Task>? beforeFile = null)
    {
        var limits = options.Uploads;
        var boundary = MultipartBoundary(http.Request.ContentType);
        if (http.Request.ContentLength > limits.MaxBytes + FormOverhead)
        {
            throw TooLarge(limits.MaxBytes);
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limits.MaxBytes + FormOverhead;
        }

        var upload = new UploadRequest(me, documentId, Guid.CreateVersion7());
        try
        {
            await ReadFormAsync(http.Request.Body, boundary, upload, db, blobs, options, beforeFile, ct);
            return await save(upload);
        }
        catch (UploadTooLargeException)
        {
            throw TooLarge(limits.MaxBytes);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(limits.MaxBytes);
        }
        catch (BadHttpRequestException)
        {
            throw;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException && !ct.IsCancellationRequested)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.malformed_multipart",
                "The multipart body is malformed or was cut short.");
        }
        finally
        {
            if (!upload.Committed && upload.BlobKey is { } key)
            {
                try
                {
                    // Ending the session first proves nothing committed (a lost COMMIT reply would leave it Completed).
                    var failed = await db.InTenantAsync(me.TenantId, (c, tx) => UploadSessions.FinishAsync(c, tx, me.TenantId, upload.VersionId, "Failed",
                        "upload.failed", cleaned: true, CancellationToken.None), CancellationToken.None);
                    if (failed == 1)
                    {
                        await blobs.DeleteAsync(key, CancellationToken.None);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or BlobStoreUnavailableException or Npgsql.NpgsqlException)
                {
                    // The session expires and the reconciliation job removes what it left.
                    logger.LogWarning(ex, "Could not remove the blob {BlobKey} of a failed upload", key);
                }
            }
        }
    }

    private static async Task ReadFormAsync(Stream body, string boundary, UploadRequest upload, Db db, IBlobStore blobs, DmsOptions options,
        Func<UploadRequest, Task>? beforeFile, CancellationToken ct)
    {
        var reader = new MultipartReader(boundary, body) { HeadersLengthLimit = 16 * 1024, BodyLengthLimit = null };
        var sections = 0;
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (++sections > MaxSections)
            {
                throw ApiProblem.Validation("form", $"At most {MaxSections} form parts.");
            }
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) ||
                !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
            {
                throw ApiProblem.Validation("form", "Every part needs a Content-Disposition: form-data header.");
            }
            var name = disposition.Name.Value ?? "";
            if (disposition.IsFileDisposition())
            {
                if (name != "file")
                {
                    throw ApiProblem.Validation(name, "Only the 'file' part may carry a file.");
                }
                if (upload.BlobKey is not null)
                {
                    throw ApiProblem.Validation("file", "Send exactly one file per document.");
                }
                var fileName = FileNames.Sanitize(disposition.FileNameStar.Value ?? disposition.FileName.Value);
                if (beforeFile is not null)
                {
                    await beforeFile(upload);
                }
                await StoreFileAsync(section.Body, fileName, upload, db, blobs, options, ct);
            }
            else
            {
                if (beforeFile is not null && upload.BlobKey is not null && PlacementFields.Contains(name))
                {
                    // The place was checked when the file started; a later field would move the file past that check.
                    throw ApiProblem.Validation(name, $"Send '{name}' before the 'file' part.");
                }
                upload.Fields.Add((name, await ReadFieldAsync(section.Body, name, ct)));
            }
        }
    }

    private static async Task StoreFileAsync(Stream body, string fileName, UploadRequest upload, Db db, IBlobStore blobs, DmsOptions options, CancellationToken ct)
    {
        var limits = options.Uploads;
        var allowed = limits.AllowedTypeList;
        if (FileKind.ForExtension(fileName) is not { } expected || !allowed.Contains(expected.Name, StringComparer.OrdinalIgnoreCase))
        {
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "document.type_not_allowed",
                $"Files of this type are not accepted. Allowed: {string.Join(", ", allowed)}.");
        }
        var head = new byte[FileKind.SniffLength];
        var headLength = 0;
        int read;
        while (headLength < head.Length && (read = await body.ReadAsync(head.AsMemory(headLength), ct)) > 0)
        {
            headLength += read;
        }
        var (kind, _) = FileKind.Classify(fileName, head.AsMemory(0, headLength), allowed);
        if (kind is null)
        {
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "document.content_mismatch",
                $"The file's content is not a valid {expected.Name.ToUpperInvariant()} file as its name says.");
        }

        // Registered before the first byte is stored, so reconciliation treats the blob as referenced
        // until this request either commits its version or gives up.
        var key = BlobKeys.ForVersion(upload.User.TenantId, upload.DocumentId, upload.VersionId);
        await db.InTenantAsync(upload.User.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO upload_sessions (id, tenant_id, created_by, kind, status, file_name, staging_key, final_key, document_id, version_id, expires_at)
            VALUES (@id, @tenant, @user, 'Stream', 'Pending', @fileName, @key, @key, @documentId, @id, now() + @ttl)
            """,
            new
            {
                id = upload.VersionId,
                tenant = upload.User.TenantId,
                user = upload.User.UserId,
                fileName,
                key,
                documentId = upload.DocumentId,
                ttl = options.Storage.OrphanGracePeriod,
            }, tx, cancellationToken: ct)), ct);
        upload.BlobKey = key;
        await using var content = new HashingLimitedStream(head.AsMemory(0, headLength), body, limits.MaxBytes);
        await blobs.PutAsync(key, content, ct);
        upload.File = new StoredFile(fileName, kind.ContentType, content.BytesRead, content.Sha256Hex());
    }

    private static async Task<string> ReadFieldAsync(Stream body, string name, CancellationToken ct)
    {
        using var reader = new StreamReader(body, System.Text.Encoding.UTF8);
        var buffer = new char[MaxFieldLength + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await reader.ReadAsync(buffer.AsMemory(length), ct)) > 0)
        {
            length += read;
        }
        if (length > MaxFieldLength)
        {
            throw ApiProblem.Validation(name, $"'{name}' is longer than {MaxFieldLength} characters.");
        }
        return new string(buffer, 0, length);
    }

    private static async Task<DocumentResponse> SaveAsync(Db db, AuditTrail audit, UploadRequest upload, CancellationToken ct)
    {
        var v = new Validator();
        v.Require(upload.File is not null, "file", "A 'file' part is required.");
        var title = upload.Field("title")?.Trim();
        if (string.IsNullOrEmpty(title) && upload.File is not null)
        {
            title = DocumentFields.TitleFromFileName(upload.File.FileName);
        }
        v.Require(upload.File is null || DocumentFields.IsValidTitle(title), "title", $"title must be 1-{DocumentFields.TitleMax} characters without control characters.");
        var description = upload.Field("description");
        v.Require(DocumentFields.IsValidDescription(description), "description", $"description is at most {DocumentFields.DescriptionMax} characters.");
        var tags = Tags.NormalizeAll(upload.Fields.Where(f => f.Name == "tags").SelectMany(f => f.Value.Split(',')), v);
        v.ThrowIfInvalid();
        var (workspaceId, folderId) = PlacementOf(upload);
        var file = upload.File!;
        var me = upload.User;

        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (ws, folder) = await Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct);
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO documents (id, tenant_id, workspace_id, folder_id, title, description, tags, current_version, created_by, updated_by)
                VALUES (@DocumentId, @Tenant, @ws, @folder, @title, @description, @tags, 1, @UserId, @UserId);
                INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
                VALUES (@VersionId, @Tenant, @DocumentId, 1, @BlobKey, @Size, @Sha256, @ContentType, @FileName, @UserId);
                """,
                new
                {
                    upload.DocumentId,
                    upload.VersionId,
                    Tenant = me.TenantId,
                    ws,
                    folder,
                    title,
                    description,
                    tags,
                    me.UserId,
                    upload.BlobKey,
                    file.Size,
                    file.Sha256,
                    file.ContentType,
                    file.FileName,
                }, tx, cancellationToken: ct));
            if (await UploadSessions.FinishAsync(c, tx, me.TenantId, upload.VersionId, "Completed", null, cleaned: false, ct) == 0)
            {
                // Only after the session expired (a day by default) mid-upload: its blob may be gone.
                throw new ApiProblem(StatusCodes.Status410Gone, "upload.expired", "The upload took too long and expired; send it again.");
            }
            await audit.RecordAsync(c, tx, "document.uploaded", "document", upload.DocumentId,
                new { title, file.FileName, file.Size, file.Sha256, file.ContentType, via = "stream" }, ct: ct);
            return (await DocumentReadModel.GetAsync(c, tx, me.TenantId, upload.DocumentId, ct))!;
        }, ct);
    }

    private static string MultipartBoundary(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) ||
            !media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "request.multipart_required",
                "Upload with Content-Type: multipart/form-data and a 'file' part.");
        }
        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        if (string.IsNullOrWhiteSpace(boundary) || boundary.Length > 200)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.malformed_multipart", "The multipart Content-Type has no valid boundary.");
        }
        return boundary;
    }

    private static ApiProblem TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, "document.too_large", $"The file is larger than the limit of {maxBytes} bytes.");
}

internal sealed record StoredFile(string FileName, string ContentType, long Size, string Sha256);

/// <summary>What one upload request has gathered so far; also the logger category of the endpoint.</summary>
internal sealed class UploadRequest(CurrentUser user, Guid documentId, Guid versionId)
{
    public CurrentUser User { get; } = user;
    public Guid DocumentId { get; } = documentId;
    public Guid VersionId { get; } = versionId;
    public List<(string Name, string Value)> Fields { get; } = [];
    public string? BlobKey { get; set; }
    public StoredFile? File { get; set; }
    public bool Committed { get; set; }

    public string? Field(string name) => Fields.LastOrDefault(f => f.Name == name).Value;
}
