using System.Net;
using System.Runtime.CompilerServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Dms.Platform.Configuration;

namespace Dms.Platform.Storage;

/// <summary>
/// Blobs in an S3-compatible bucket (AWS S3, MinIO, moto…). Clients upload and download directly with
/// presigned URLs; the API streams only when asked to, and buffers at most one part at a time.
/// </summary>
internal sealed class S3BlobStore : IBlobStore, IDisposable
{
    // S3's minimum part size; also the most memory one streaming upload holds.
    private const int StreamingPartSize = 8 * 1024 * 1024;
    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly Protocol _protocol;
    private readonly TimeProvider _clock;

    /// <param name="clock">An object without a modification time counts as written now (the reconciler then leaves it for a grace period).</param>
    public S3BlobStore(S3StorageOptions options, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        if (string.IsNullOrWhiteSpace(options.Bucket))
        {
            throw new Database.StartupException("Dms__Storage__S3__Bucket is required when Dms__Storage__Provider is S3.");
        }
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            AuthenticationRegion = options.Region,
            // Trailing checksums (SDK v4 default) are not understood by every S3-compatible server.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 2,
            Timeout = TimeSpan.FromMinutes(5),
        };
        if (!string.IsNullOrWhiteSpace(options.ServiceUrl))
        {
            config.ServiceURL = options.ServiceUrl;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }
        // Without keys the SDK's default chain applies (environment, profile, instance or task role).
        _client = string.IsNullOrEmpty(options.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.SecretKey), config);
        _bucket = options.Bucket;
        _protocol = options.ServiceUrl?.StartsWith("http://", StringComparison.OrdinalIgnoreCase) == true ? Protocol.HTTP : Protocol.HTTPS;
    }

    /// <summary>Creates the bucket at start-up when it is missing and creating it is allowed.</summary>
    public async Task EnsureBucketAsync(bool create, CancellationToken ct)
    {
        try
        {
            await _client.GetBucketLocationAsync(new GetBucketLocationRequest { BucketName = _bucket }, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && create)
        {
            await _client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket }, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            throw new Database.StartupException($"S3 bucket '{_bucket}' does not exist and Dms__Storage__S3__CreateBucket is false.");
        }
    }

    public async Task PutAsync(string key, Stream content, CancellationToken ct)
    {
        var buffer = new byte[StreamingPartSize];
        var filled = await FillAsync(content, buffer, ct);
        if (filled < buffer.Length)
        {
            using var single = new MemoryStream(buffer, 0, filled, writable: false);
            await Call(() => _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = single, AutoCloseStream = false }, ct));
            return;
        }
        var uploadId = await StartMultipartAsync(key, ct);
        try
        {
            var parts = new List<PartETag>();
            while (filled > 0)
            {
                using var part = new MemoryStream(buffer, 0, filled, writable: false);
                var response = await Call(() => _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _bucket,
                    Key = key,
                    UploadId = uploadId,
                    PartNumber = parts.Count + 1,
                    InputStream = part,
                    PartSize = filled,
                }, ct));
                parts.Add(new PartETag(parts.Count + 1, response.ETag));
                filled = await FillAsync(content, buffer, ct);
            }
            await Call(() => _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = key,
                UploadId = uploadId,
                PartETags = parts,
            }, ct));
        }
        catch
        {
            await AbortMultipartAsync(key, uploadId, CancellationToken.None);
            throw;
        }
    }

    public async Task<Stream?> OpenReadAsync(string key, long offset, long? length, CancellationToken ct)
    {
        var request = new GetObjectRequest { BucketName = _bucket, Key = key };
        if (offset > 0 || length is not null)
        {
            request.ByteRange = length is { } l ? new ByteRange(offset, offset + l - 1) : new ByteRange($"bytes={offset}-");
        }
        try
        {
            var response = await _client.GetObjectAsync(request, ct);
            return new ResponseOwningStream(response.ResponseStream, response);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw new BlobStoreUnavailableException($"S3 GET {key} failed: {ex.Message}", ex);
        }
    }

    public async Task<BlobProperties?> HeadAsync(string key, CancellationToken ct)
    {
        try
        {
            var metadata = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = key }, ct);
            return new BlobProperties(key, metadata.ContentLength, metadata.LastModified is { } modified ? new DateTimeOffset(modified) : _clock.GetUtcNow());
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            throw new BlobStoreUnavailableException($"S3 HEAD {key} failed: {ex.Message}", ex);
        }
    }

    public Task DeleteAsync(string key, CancellationToken ct) =>
        Call(() => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = key }, ct));

    public async Task MoveAsync(string sourceKey, string destinationKey, CancellationToken ct)
    {
        await Call(() => _client.CopyObjectAsync(new CopyObjectRequest
        {
            SourceBucket = _bucket,
            SourceKey = sourceKey,
            DestinationBucket = _bucket,
            DestinationKey = destinationKey,
        }, ct));
        await DeleteAsync(sourceKey, ct);
    }

    public async IAsyncEnumerable<BlobProperties> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        string? continuation = null;
        do
        {
            var page = await Call(() => _client.ListObjectsV2Async(new ListObjectsV2Request
            {
                BucketName = _bucket,
                Prefix = prefix,
                ContinuationToken = continuation,
            }, ct));
            foreach (var item in page.S3Objects ?? [])
            {
                yield return new BlobProperties(item.Key, item.Size ?? 0, item.LastModified is { } modified ? new DateTimeOffset(modified) : _clock.GetUtcNow());
            }
            continuation = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (continuation is not null);
    }

    // A PutObject is stored whole or not at all, and multipart uploads are aborted with their sessions: nothing is left behind.
    public Task<int> RemoveAbandonedWritesAsync(string prefix, DateTimeOffset olderThan, CancellationToken ct) => Task.FromResult(0);

    public Uri PresignPut(string key, long maxBytes, DateTimeOffset expires, Uri apiBase)
    {
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = key,
            Verb = HttpVerb.PUT,
            Expires = expires.UtcDateTime,
            Protocol = _protocol,
        };
        // Signed, so storage refuses a body of any other length: the URL cannot carry more than was declared.
        request.Headers.ContentLength = maxBytes;
        return new(_client.GetPreSignedURL(request));
    }

    public Uri PresignGet(string key, BlobDownloadInfo download, DateTimeOffset expires, Uri apiBase)
    {
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = key,
            Verb = HttpVerb.GET,
            Expires = expires.UtcDateTime,
            Protocol = _protocol,
        };
        request.ResponseHeaderOverrides.ContentType = download.ContentType;
        request.ResponseHeaderOverrides.ContentDisposition = ContentDisposition.Attachment(download.FileName);
        return new Uri(_client.GetPreSignedURL(request));
    }

    public async Task<string> StartMultipartAsync(string key, CancellationToken ct) =>
        (await Call(() => _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key }, ct))).UploadId;

    public Uri PresignPart(string key, string uploadId, int partNumber, long maxBytes, DateTimeOffset expires, Uri apiBase)
    {
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = key,
            Verb = HttpVerb.PUT,
            Expires = expires.UtcDateTime,
            Protocol = _protocol,
            UploadId = uploadId,
            PartNumber = partNumber,
        };
        request.Headers.ContentLength = maxBytes;
        return new(_client.GetPreSignedURL(request));
    }

    public async Task CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct)
    {
        await CheckPartsAsync(key, uploadId, parts, ct);
        try
        {
            await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = key,
                UploadId = uploadId,
                PartETags = parts.Select(p => new PartETag(p.Number, p.ETag)).ToList(),
            }, ct);
        }
        catch (AmazonS3Exception ex) when ((int)ex.StatusCode is >= 400 and < 500)
        {
            throw new BlobPartsInvalidException($"The parts do not match the upload: {ex.ErrorCode}.", ex);
        }
        catch (AmazonServiceException ex)
        {
            throw new BlobStoreUnavailableException($"S3 CompleteMultipartUpload failed: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Compares the client's part list with what the server holds before completing, so a wrong,
    /// missing or aborted upload is a clear client error on every S3-compatible server.
    /// </summary>
    private async Task CheckPartsAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct)
    {
        var stored = new Dictionary<int, string>();
        int? marker = null;
        try
        {
            ListPartsResponse page;
            do
            {
                page = await _client.ListPartsAsync(new ListPartsRequest { BucketName = _bucket, Key = key, UploadId = uploadId, PartNumberMarker = marker?.ToString(System.Globalization.CultureInfo.InvariantCulture) }, ct);
                foreach (var part in page.Parts ?? [])
                {
                    stored[part.PartNumber ?? 0] = part.ETag;
                }
                marker = page.NextPartNumberMarker;
            }
            while (page.IsTruncated == true);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            throw new BlobPartsInvalidException("The multipart upload does not exist (completed, aborted or expired).", ex);
        }
        catch (AmazonServiceException ex)
        {
            throw new BlobStoreUnavailableException($"S3 ListParts failed: {ex.Message}", ex);
        }
        foreach (var part in parts)
        {
            if (!stored.TryGetValue(part.Number, out var etag))
            {
                throw new BlobPartsInvalidException($"Part {part.Number} was not uploaded.");
            }
            if (!string.Equals(etag.Trim('"'), part.ETag.Trim('"'), StringComparison.OrdinalIgnoreCase))
            {
                throw new BlobPartsInvalidException($"Part {part.Number}'s ETag does not match the uploaded bytes.");
            }
        }
    }

    public async Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct)
    {
        try
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = uploadId }, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            // Already completed or aborted.
        }
        catch (AmazonServiceException ex)
        {
            throw new BlobStoreUnavailableException($"S3 AbortMultipartUpload failed: {ex.Message}", ex);
        }
    }

    public async Task ProbeAsync(CancellationToken ct)
    {
        var key = $".probe/{Guid.NewGuid():N}";
        using var body = new MemoryStream("ok"u8.ToArray());
        await Call(() => _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = body }, ct));
        await DeleteAsync(key, ct);
    }

    public void Dispose() => _client.Dispose();

    private static async Task<int> FillAsync(Stream content, byte[] buffer, CancellationToken ct)
    {
        var filled = 0;
        int read;
        while (filled < buffer.Length && (read = await content.ReadAsync(buffer.AsMemory(filled), ct)) > 0)
        {
            filled += read;
        }
        return filled;
    }

    private static async Task<T> Call<T>(Func<Task<T>> operation)
    {
        try
        {
            return await operation();
        }
        catch (Exception ex) when (IsUnavailable(ex) && ex is not AmazonS3Exception { StatusCode: HttpStatusCode.NotFound })
        {
            throw new BlobStoreUnavailableException($"S3 request failed: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// An S3 error answer, or no answer at all (refused, reset, DNS, timeout): storage is unavailable (503 to
    /// clients, a retry for the outbox), never an unhandled exception.
    /// </summary>
    private static bool IsUnavailable(Exception ex) =>
        ex is AmazonClientException or HttpRequestException or System.Net.Sockets.SocketException or TimeoutException;

    private static async Task Call(Func<Task> operation) => await Call(async () => { await operation(); return true; });

    /// <summary>Disposes the SDK response (and so its connection) with the body stream.</summary>
    private sealed class ResponseOwningStream(Stream inner, IDisposable owner) : ReadOnlyStream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                owner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
