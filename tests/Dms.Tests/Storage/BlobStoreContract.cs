using System.Net;
using System.Security.Cryptography;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Storage;

/// <summary>
/// The behaviour every <see cref="IBlobStore"/> provider must have, run against the FileSystem provider and
/// against S3 on a real S3-compatible server (moto). Presigned URLs are exercised over HTTP as a client would.
/// </summary>
public abstract class BlobStoreContract
{
    private readonly string _prefix = $"contract-{Guid.NewGuid():N}/";

    private protected abstract Task<DmsApp> AppAsync();

    private async Task<(IBlobStore Store, DmsApp App)> StoreAsync()
    {
        var app = await AppAsync();
        return (app.Service<IBlobStore>(), app);
    }

    private string Key(string name) => _prefix + name;

    private static byte[] Random(int size)
    {
        var bytes = new byte[size];
        System.Random.Shared.NextBytes(bytes);
        return bytes;
    }

    private static async Task<byte[]> ReadAllAsync(IBlobStore store, string key, long offset = 0, long? length = null)
    {
        await using var stream = await store.OpenReadAsync(key, offset, length, CancellationToken.None);
        stream.ShouldNotBeNull();
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task Put_then_read_head_and_delete()
    {
        var (store, _) = await StoreAsync();
        var content = Random(70_000);
        await store.PutAsync(Key("a"), new MemoryStream(content), CancellationToken.None);
        (await ReadAllAsync(store, Key("a"))).ShouldBe(content);
        var head = await store.HeadAsync(Key("a"), CancellationToken.None);
        head.ShouldNotBeNull().Size.ShouldBe(content.Length);
        head.LastModified.ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(-5));

        await store.DeleteAsync(Key("a"), CancellationToken.None);
        (await store.HeadAsync(Key("a"), CancellationToken.None)).ShouldBeNull();
        (await store.OpenReadAsync(Key("a"), 0, null, CancellationToken.None)).ShouldBeNull();
        await store.DeleteAsync(Key("a"), CancellationToken.None); // deleting again is fine
        await store.DeleteAsync(Key("never/written/here"), CancellationToken.None);
    }

    [Fact]
    public async Task Range_reads_return_exactly_the_asked_bytes()
    {
        var (store, _) = await StoreAsync();
        var content = Random(100_000);
        await store.PutAsync(Key("r"), new MemoryStream(content), CancellationToken.None);
        (await ReadAllAsync(store, Key("r"), 10, 20)).ShouldBe(content[10..30]);
        (await ReadAllAsync(store, Key("r"), 99_990)).ShouldBe(content[99_990..]);
        (await ReadAllAsync(store, Key("r"), 0, 1)).ShouldBe(content[..1]);
    }

    [Fact]
    public async Task A_large_stream_of_unknown_length_is_stored_whole()
    {
        var (store, _) = await StoreAsync();
        var content = Random(20 * 1024 * 1024 + 123); // more than one S3 streaming part
        await store.PutAsync(Key("big"), new NonSeekableStream(content), CancellationToken.None);
        var head = await store.HeadAsync(Key("big"), CancellationToken.None);
        head.ShouldNotBeNull().Size.ShouldBe(content.Length);
        SHA256.HashData(await ReadAllAsync(store, Key("big"))).ShouldBe(SHA256.HashData(content));
        await store.DeleteAsync(Key("big"), CancellationToken.None);
    }

    [Fact]
    public async Task List_by_prefix_returns_only_that_prefix()
    {
        var (store, _) = await StoreAsync();
        await store.PutAsync(Key("dir/one"), new MemoryStream([1]), CancellationToken.None);
        await store.PutAsync(Key("dir/two"), new MemoryStream([1, 2]), CancellationToken.None);
        await store.PutAsync(Key("other/three"), new MemoryStream([1, 2, 3]), CancellationToken.None);

        var listed = new List<BlobProperties>();
        await foreach (var blob in store.ListAsync(Key("dir/"), CancellationToken.None))
        {
            listed.Add(blob);
        }
        listed.Select(b => (b.Key, b.Size)).OrderBy(b => b.Key).ShouldBe([(Key("dir/one"), 1L), (Key("dir/two"), 2L)]);
    }

    [Fact]
    public async Task Move_leaves_the_bytes_only_at_the_destination()
    {
        var (store, _) = await StoreAsync();
        var content = Random(5000);
        await store.PutAsync(Key("from"), new MemoryStream(content), CancellationToken.None);
        await store.MoveAsync(Key("from"), Key("to/there"), CancellationToken.None);
        (await store.HeadAsync(Key("from"), CancellationToken.None)).ShouldBeNull();
        (await ReadAllAsync(store, Key("to/there"))).ShouldBe(content);
    }

    [Fact]
    public async Task Presigned_put_and_get_work_over_http()
    {
        var (store, app) = await StoreAsync();
        var content = Random(40_000);
        var expires = DateTimeOffset.UtcNow.AddMinutes(5);
        var put = store.PresignPut(Key("p"), content.Length, expires, new Uri("http://localhost/"));
        using (var response = await app.SendToUrlAsync(HttpMethod.Put, put, new ByteArrayContent(content)))
        {
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await ReadAllAsync(store, Key("p"))).ShouldBe(content);

        var get = store.PresignGet(Key("p"), new BlobDownloadInfo("report ü.pdf", "application/pdf", "abc"), expires, new Uri("http://localhost/"));
        using var download = await app.SendToUrlAsync(HttpMethod.Get, get);
        await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(content);
        if (app.UsesS3)
        {
            // S3 applies these response overrides when it serves the URL (moto, the test server, ignores them).
            var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(get.Query);
            query["response-content-type"].ToString().ShouldBe("application/pdf");
            query["response-content-disposition"].ToString().ShouldStartWith("attachment;");
            query["response-content-disposition"].ToString().ShouldContain("filename*=UTF-8''report%20%C3%BC.pdf");
        }
        else
        {
            download.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
            download.Content.Headers.ContentDisposition.FileNameStar.ShouldBe("report ü.pdf");
            download.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        }
    }

    [Fact]
    public async Task Presigned_multipart_upload_joins_the_parts_in_order()
    {
        var (store, app) = await StoreAsync();
        const int partSize = 5 * 1024 * 1024;
        var content = Random(partSize * 2 + 1000);
        var key = Key("multi");
        var uploadId = await store.StartMultipartAsync(key, CancellationToken.None);
        var parts = new List<BlobPart>();
        for (var n = 1; n <= 3; n++)
        {
            var slice = content[((n - 1) * partSize)..Math.Min(n * partSize, content.Length)];
            var url = store.PresignPart(key, uploadId, n, partSize, DateTimeOffset.UtcNow.AddMinutes(5), new Uri("http://localhost/"));
            using var response = await app.SendToUrlAsync(HttpMethod.Put, url, new ByteArrayContent(slice));
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            parts.Add(new BlobPart(n, response.Headers.ETag!.Tag));
        }

        await Should.ThrowAsync<BlobPartsInvalidException>(() =>
            store.CompleteMultipartAsync(key, uploadId, [parts[0], parts[1] with { ETag = "\"0000\"" }, parts[2]], CancellationToken.None));

        await store.CompleteMultipartAsync(key, uploadId, parts, CancellationToken.None);
        SHA256.HashData(await ReadAllAsync(store, key)).ShouldBe(SHA256.HashData(content));
    }

    [Fact]
    public async Task An_aborted_multipart_upload_cannot_be_completed()
    {
        var (store, app) = await StoreAsync();
        var key = Key("aborted");
        var uploadId = await store.StartMultipartAsync(key, CancellationToken.None);
        var url = store.PresignPart(key, uploadId, 1, 1024, DateTimeOffset.UtcNow.AddMinutes(5), new Uri("http://localhost/"));
        using var response = await app.SendToUrlAsync(HttpMethod.Put, url, new ByteArrayContent(Random(1024)));
        var etag = response.Headers.ETag!.Tag;
        await store.AbortMultipartAsync(key, uploadId, CancellationToken.None);
        await Should.ThrowAsync<BlobPartsInvalidException>(() =>
            store.CompleteMultipartAsync(key, uploadId, [new BlobPart(1, etag)], CancellationToken.None));
        (await store.HeadAsync(key, CancellationToken.None)).ShouldBeNull();
    }

    /// <summary>A stream that cannot seek or tell its length, like a request body.</summary>
    private sealed class NonSeekableStream(byte[] content) : MemoryStream(content)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
    }
}

public sealed class FileSystemBlobStoreContract : BlobStoreContract
{
    private protected override Task<DmsApp> AppAsync() => DmsApp.GetAsync();
}

public sealed class S3BlobStoreContract : BlobStoreContract
{
    private protected override Task<DmsApp> AppAsync() => DmsApp.GetS3Async();
}

/// <summary>An S3 endpoint nobody listens on: every operation reports storage as unavailable (503 upstream), never a bare exception.</summary>
public sealed class S3UnreachableTests
{
    [Fact]
    public async Task Operations_against_an_unreachable_server_throw_blob_store_unavailable()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // the port is now closed: connections are refused
        var store = new Dms.Platform.Storage.S3BlobStore(new Dms.Platform.Configuration.S3StorageOptions
        {
            ServiceUrl = $"http://127.0.0.1:{port}",
            Bucket = "nowhere",
            AccessKey = "test",
            SecretKey = "test",
            ForcePathStyle = true,
        });
        await Should.ThrowAsync<Dms.Platform.Storage.BlobStoreUnavailableException>(() => store.PutAsync("t/k", new MemoryStream([1, 2, 3]), CancellationToken.None));
        await Should.ThrowAsync<Dms.Platform.Storage.BlobStoreUnavailableException>(() => store.OpenReadAsync("t/k", 0, null, CancellationToken.None));
        await Should.ThrowAsync<Dms.Platform.Storage.BlobStoreUnavailableException>(() => store.HeadAsync("t/k", CancellationToken.None));
        await Should.ThrowAsync<Dms.Platform.Storage.BlobStoreUnavailableException>(() => store.DeleteAsync("t/k", CancellationToken.None));
    }
}
