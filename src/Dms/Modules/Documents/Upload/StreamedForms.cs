using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Dms.Modules.Documents.Upload;

/// <summary>What one streamed multipart form has gathered so far: its text fields and, once stored, its file.</summary>
internal sealed class StreamedForm(CurrentUser user, Guid documentId, Guid versionId)
{
    public CurrentUser User { get; } = user;
    public Guid DocumentId { get; } = documentId;

    /// <summary>The new version's id; also the id of the upload session that registers its blob key.</summary>
    public Guid VersionId { get; } = versionId;

    public List<(string Name, string Value)> Fields { get; } = [];

    /// <summary>The file part, stored under a key that a Pending upload session registers; null until it arrived.</summary>
    public StagedContent? File { get; set; }

    /// <summary>The largest file this tenant may send (the installation's or its plan's limit).</summary>
    public FileLimit MaxFile { get; init; } = new(long.MaxValue, ByPlan: false);

    /// <summary>
    /// What the file reserves of the storage quota before its first byte is stored: the request's Content-Length (an upper
    /// bound of the file, as the form's other parts come with it) or, without one, the largest file allowed.
    /// </summary>
    public long Reservation { get; init; }

    public string? Field(string name) => Fields.LastOrDefault(f => f.Name == name).Value;

    /// <summary>The raw values of a field that may repeat (<c>tags</c>).</summary>
    public IEnumerable<string> All(string name) => Fields.Where(f => f.Name == name).Select(f => f.Value);
}

/// <summary>
/// Reads a streamed <c>multipart/form-data</c> body whose <c>file</c> part becomes a new version blob: the part is
/// sniffed from its first bytes, then streamed to storage while it is hashed and measured. The caller's save step
/// writes the rows once the blob is whole; when it does not complete, the blob is removed, so a failed upload
/// leaves neither. The HTTP edge of an upload: an endpoint adapter calls it, never a handler.
/// </summary>
internal sealed class StreamedForms(Db db, IBlobStore blobs, IOptions<DmsOptions> options, ILogger<StreamedForms> logger)
{
    private const int MaxFieldLength = 16 * 1024;
    private const int MaxSections = 64;
    // Room for the multipart framing and the text fields around the file.
    private const long FormOverhead = 1024 * 1024;

    /// <summary>Fields that say where the file goes; they must come before the file when <c>beforeFile</c> checked the place.</summary>
    private static readonly string[] PlacementFields = ["workspaceId", "folderId"];

    /// <summary>
    /// Reads the form into a new version of <paramref name="documentId"/>, then runs <paramref name="save"/>, which must
    /// finish the upload session in the transaction that writes its rows (<see cref="DocumentUploads.ConsumeAsync"/>).
    /// The blob is removed unless <paramref name="save"/> returns. <paramref name="beforeFile"/> runs when the file part
    /// starts, with the fields sent before it, and refuses by throwing.
    /// </summary>
    public async Task<T> ReadAsync<T>(HttpRequest request, CurrentUser me, Guid documentId, Func<StreamedForm, Task>? beforeFile,
        Func<StreamedForm, Task<T>> save, CancellationToken ct)
    {
        var limits = options.Value.Uploads;
        var boundary = MultipartBoundary(request.ContentType);
        var maxFile = await db.InTenantAsync(me.TenantId, (c, tx) => StorageUsage.MaxFileAsync(c, tx, me.TenantId, limits.MaxBytes, ct), ct);
        if (request.ContentLength > maxFile.Bytes + FormOverhead)
        {
            throw maxFile.TooLarge();
        }
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = maxFile.Bytes + FormOverhead;
        }

        var form = new StreamedForm(me, documentId, Guid.CreateVersion7())
        {
            MaxFile = maxFile,
            Reservation = Math.Min(request.ContentLength ?? maxFile.Bytes, maxFile.Bytes),
        };
        var committed = false;
        try
        {
            await ReadSectionsAsync(request.Body, boundary, form, beforeFile, ct);
            var result = await save(form);
            committed = true;
            return result;
        }
        catch (UploadTooLargeException)
        {
            throw maxFile.TooLarge();
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw maxFile.TooLarge();
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
            if (!committed && form.File is { } file)
            {
                await DiscardAsync(me.TenantId, file);
            }
        }
    }

    private async Task DiscardAsync(Guid tenant, StagedContent file)
    {
        try
        {
            // Ending the session first proves nothing committed (a lost COMMIT reply would leave it Completed).
            var failed = await db.InTenantAsync(tenant, (c, tx) => UploadSessions.FinishAsync(c, tx, tenant, file.UploadId, UploadSessionStatus.Failed,
                "upload.failed", cleaned: true, CancellationToken.None), CancellationToken.None);
            if (failed == 1)
            {
                await blobs.DeleteAsync(file.BlobKey, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or BlobStoreUnavailableException or Npgsql.NpgsqlException)
        {
            // The session expires and the reconciliation job removes what it left.
            logger.LogWarning(ex, "Could not remove the blob {BlobKey} of a failed upload", file.BlobKey);
        }
    }

    private async Task ReadSectionsAsync(Stream body, string boundary, StreamedForm form, Func<StreamedForm, Task>? beforeFile, CancellationToken ct)
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
                if (form.File is not null)
                {
                    throw ApiProblem.Validation("file", "Send exactly one file per document.");
                }
                var fileName = FileNames.Sanitize(disposition.FileNameStar.Value ?? disposition.FileName.Value);
                if (beforeFile is not null)
                {
                    await beforeFile(form);
                }
                form.File = await StoreFileAsync(section.Body, fileName, form, ct);
            }
            else
            {
                if (beforeFile is not null && form.File is not null && PlacementFields.Contains(name))
                {
                    // The place was checked when the file started; a later field would move the file past that check.
                    throw ApiProblem.Validation(name, $"Send '{name}' before the 'file' part.");
                }
                form.Fields.Add((name, await ReadFieldAsync(section.Body, name, ct)));
            }
        }
    }

    /// <summary>Checks the file's type by name and content, registers its key as a Pending session, then streams it to storage.</summary>
    private async Task<StagedContent> StoreFileAsync(Stream body, string fileName, StreamedForm form, CancellationToken ct)
    {
        var limits = options.Value.Uploads;
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
        // The quota is reserved in the same transaction: nothing is stored when it is refused.
        var tenant = form.User.TenantId;
        var key = BlobKeys.ForVersion(tenant, form.DocumentId, form.VersionId);
        await db.InTenantAsync(tenant, async (c, tx) =>
        {
            await StorageUsage.ReserveAsync(c, tx, tenant, form.Reservation, ct);
            return await c.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO upload_sessions (id, tenant_id, created_by, kind, status, file_name, staging_key, final_key, document_id, version_id, expires_at, reserved_bytes)
            VALUES (@id, @tenant, @user, {UploadSessionKind.Stream.Sql()}, {UploadSessionStatus.Pending.Sql()}, @fileName, @key, @key, @documentId, @id, now() + @ttl, @reserved)
            """,
            new
            {
                id = form.VersionId,
                tenant,
                user = form.User.UserId,
                fileName,
                key,
                documentId = form.DocumentId,
                ttl = options.Value.Storage.OrphanGracePeriod,
                reserved = form.Reservation,
            }, tx, cancellationToken: ct));
        }, ct);
        // Known from here on, so a failure while the bytes stream removes what arrived.
        form.File = new StagedContent(form.VersionId, key, form.VersionId, 0, "", kind.ContentType, fileName);
        await using var content = new HashingLimitedStream(head.AsMemory(0, headLength), body, form.MaxFile.Bytes);
        await blobs.PutAsync(key, content, ct);
        DmsTelemetry.UploadBytes.Add(content.BytesRead, new KeyValuePair<string, object?>("kind", "stream"));
        return form.File with { Size = content.BytesRead, Sha256 = content.Sha256Hex() };
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
}
