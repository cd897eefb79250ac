using Dms.Platform.Http;
using Microsoft.Net.Http.Headers;

namespace Dms.Platform.Storage;

/// <summary>
/// Streams a blob as an HTTP response, the same way for every provider: attachment disposition, the
/// SHA-256 as strong ETag, <c>If-None-Match</c> → 304, one <c>Range</c> → 206 (honouring <c>If-Range</c>),
/// an unsatisfiable range → 416. Bytes are copied through a small buffer, never held whole.
/// </summary>
internal static class BlobResponses
{
    /// <summary>
    /// An authorised, audited download: a 302 to a short-lived URL that serves the bytes straight from storage
    /// (so bulk bytes stay off the API path), or with <paramref name="redirect"/> false, streamed through the API.
    /// </summary>
    public static async Task<IResult> DownloadAsync(HttpContext http, IBlobStore store, Configuration.DmsOptions options, TimeProvider clock,
        string key, long size, BlobDownloadInfo info, DateTime createdAt, bool? redirect, CancellationToken ct)
    {
        if (redirect != false)
        {
            var url = store.PresignGet(key, info, clock.GetUtcNow() + options.Storage.DownloadUrlTtl, ApiBase.From(http, options));
            http.Response.Headers.CacheControl = "no-store";
            return Results.Redirect(url.ToString());
        }
        await WriteAsync(http, store, key, size, info, new DateTimeOffset(createdAt, TimeSpan.Zero), ct);
        return Results.Empty;
    }

    public static async Task WriteAsync(HttpContext http, IBlobStore store, string key, long size, BlobDownloadInfo info, DateTimeOffset lastModified, CancellationToken ct)
    {
        var request = http.Request;
        var response = http.Response;
        var etag = $"\"{info.Sha256}\"";
        response.Headers.ETag = etag;
        response.Headers.LastModified = lastModified.ToString("R");
        response.Headers.AcceptRanges = "bytes";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = "private, no-cache";

        if (request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == etag || t.Trim() == "*")))
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        long offset = 0;
        var length = size;
        var rangeHeader = request.Headers.Range.ToString();
        var ifRange = request.Headers.IfRange.ToString();
        if (rangeHeader.Length > 0 && (ifRange.Length == 0 || ifRange == etag))
        {
            switch (ParseRange(rangeHeader, size))
            {
                case RangeResult.Unsatisfiable:
                    throw new ApiProblem(StatusCodes.Status416RangeNotSatisfiable, "download.range_not_satisfiable",
                        $"The requested range is outside the file's {size} bytes.")
                    {
                        Headers = new Dictionary<string, string> { ["Content-Range"] = $"bytes */{size}" },
                    };
                case RangeResult.Satisfiable(var from, var to):
                    offset = from;
                    length = to - from + 1;
                    response.StatusCode = StatusCodes.Status206PartialContent;
                    response.Headers.ContentRange = $"bytes {from}-{to}/{size}";
                    break;
            }
        }

        await using var body = await store.OpenReadAsync(key, offset, length, ct)
            ?? throw new ApiProblem(StatusCodes.Status503ServiceUnavailable, "storage.blob_missing",
                "The file is temporarily unavailable from storage; try again later or tell an administrator.");
        response.ContentType = info.ContentType;
        response.ContentLength = length;
        response.Headers.ContentDisposition = ContentDisposition.Attachment(info.FileName);
        if (HttpMethods.IsHead(request.Method))
        {
            return;
        }
        await body.CopyToAsync(response.Body, 81920, ct);
    }

    private abstract record RangeResult
    {
        public sealed record Unsatisfiable : RangeResult;
        public sealed record Satisfiable(long From, long To) : RangeResult;
        public sealed record Ignored : RangeResult;
    }

    // Single byte ranges only; multi-range requests get the whole file (RFC 9110 allows ignoring Range).
    private static RangeResult ParseRange(string header, long size)
    {
        if (!RangeHeaderValue.TryParse(header, out var parsed) || !string.Equals(parsed.Unit.Value, "bytes", StringComparison.OrdinalIgnoreCase) || parsed.Ranges.Count != 1)
        {
            return new RangeResult.Ignored();
        }
        var range = parsed.Ranges.First();
        if (range.From is { } from)
        {
            if (from >= size)
            {
                return new RangeResult.Unsatisfiable();
            }
            var to = range.To is { } t ? Math.Min(t, size - 1) : size - 1;
            return to < from ? new RangeResult.Ignored() : new RangeResult.Satisfiable(from, to);
        }
        if (range.To is { } suffix)
        {
            if (suffix == 0 || size == 0)
            {
                return new RangeResult.Unsatisfiable();
            }
            return new RangeResult.Satisfiable(Math.Max(0, size - suffix), size - 1);
        }
        return new RangeResult.Ignored();
    }
}
