using Dms.Platform.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Dms.Platform.Storage;

/// <summary>
/// <c>PUT|GET /api/v1/storage/objects?token=…</c>: the FileSystem provider's equivalent of S3 presigned
/// URLs. No bearer token: the HMAC-signed, expiring token is the authorisation, bound to method and key.
/// </summary>
internal static class SignedObjectEndpoints
{
    public static IEndpointRouteBuilder MapSignedObjects(this IEndpointRouteBuilder app)
    {
        app.MapPut(SignedBlobUrls.ObjectsPath, PutAsync).Produces(StatusCodes.Status200OK).WithSummary("Internal: upload bytes to a signed URL (filesystem storage)").AllowAnonymous().WithTags("Storage").DisableAntiforgery();
        app.MapGet(SignedBlobUrls.ObjectsPath, GetAsync).Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream").WithSummary("Internal: download bytes from a signed URL (filesystem storage)").AllowAnonymous().WithTags("Storage");
        return app;
    }

    private static async Task<IResult> PutAsync(HttpContext http, string? token, SignedBlobUrls urls, IBlobStore store, CancellationToken ct)
    {
        var grant = urls.Verify(token, "PUT");
        var files = LocalStore(store);
        var max = grant.MaxBytes ?? 0;
        if (http.Request.ContentLength > max)
        {
            throw TooLarge(max);
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = max;
        }
        await using var body = new HashingLimitedStream(ReadOnlyMemory<byte>.Empty, http.Request.Body, max);
        string etag;
        try
        {
            etag = grant.UploadId is { } uploadId && grant.Part is { } part
                ? await files.PutPartAsync(uploadId, part, body, ct)
                : await FileSystemBlobStore.WriteAtomicallyAsync(files.PathFor(grant.Key), body, overwrite: true, ct);
        }
        catch (UploadTooLargeException)
        {
            throw TooLarge(max);
        }
        catch (BlobPartsInvalidException ex)
        {
            throw new ApiProblem(StatusCodes.Status409Conflict, "storage.upload_closed", ex.Message);
        }
        http.Response.Headers.ETag = $"\"{etag}\"";
        return Results.Ok();
    }

    private static async Task GetAsync(HttpContext http, string? token, SignedBlobUrls urls, IBlobStore store, CancellationToken ct)
    {
        var grant = urls.Verify(token, "GET");
        var files = LocalStore(store);
        var blob = await files.HeadAsync(grant.Key, ct)
            ?? throw new ApiProblem(StatusCodes.Status404NotFound, "storage.object_not_found", "The file no longer exists.");
        var info = new BlobDownloadInfo(grant.FileName ?? "download", grant.ContentType ?? "application/octet-stream", grant.Sha256 ?? "");
        await BlobResponses.WriteAsync(http, files, grant.Key, blob.Size, info, blob.LastModified, ct);
    }

    private static FileSystemBlobStore LocalStore(IBlobStore store) =>
        (store is InstrumentedBlobStore instrumented ? instrumented.Inner : store) as FileSystemBlobStore ?? throw new ApiProblem(StatusCodes.Status404NotFound, "storage.not_local",
            "This node stores files in S3; use the presigned URL the API returned.");

    private static ApiProblem TooLarge(long max) =>
        new(StatusCodes.Status413PayloadTooLarge, "storage.too_large", $"The body is larger than the {max} bytes this URL allows.");
}
