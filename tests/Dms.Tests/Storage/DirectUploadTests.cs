using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Storage;

/// <summary>An app (FileSystem or S3 storage) and a tenant of one's own, with the client steps of a direct upload.</summary>
public abstract class StorageApiTests : IAsyncLifetime
{
    private protected DmsApp App { get; private set; } = null!;
    private protected TestTenant Tenant { get; private set; } = null!;

    private protected abstract Task<DmsApp> AppAsync();

    /// <summary>Size of a file that needs a multipart upload on this app.</summary>
    private protected abstract int MultipartFileSize { get; }

    public async Task InitializeAsync()
    {
        App = await AppAsync();
        Tenant = await App.CreateTenantAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private protected async Task<JsonElement> CreateSessionAsync(string fileName, long size, string? sha256 = null, HttpClient? client = null)
    {
        using var response = await (client ?? Tenant.Admin.Client).PostAsJsonAsync("/api/v1/uploads", new { fileName, size, contentType = "application/octet-stream", sha256 });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    private protected async Task PutAsync(JsonElement session, byte[] content)
    {
        using var response = await App.SendToUrlAsync(HttpMethod.Put, new Uri(session.GetProperty("url").GetString()!), new ByteArrayContent(content));
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    private protected Task<HttpResponseMessage> CompleteAsync(JsonElement session, object? body = null, HttpClient? client = null) =>
        (client ?? Tenant.Admin.Client).PostAsJsonAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}/complete", body ?? new { title = "Direct" });

    private protected async Task<byte[]> DownloadByRedirectAsync(Guid documentId)
    {
        var noRedirect = App.ClientWithTokenNoRedirect(Tenant.Admin.Tokens.AccessToken);
        using var redirect = await noRedirect.GetAsync($"/api/v1/documents/{documentId}/content");
        await redirect.ShouldHaveStatusAsync(HttpStatusCode.Redirect);
        redirect.Headers.CacheControl!.NoStore.ShouldBeTrue();
        using var download = await App.SendToUrlAsync(HttpMethod.Get, redirect.Headers.Location!);
        await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await download.Content.ReadAsByteArrayAsync();
    }

    /// <summary>No documents listed and no blobs under the tenant's prefix.</summary>
    private protected async Task ShouldBeEmptyAsync()
    {
        var list = await (await Tenant.Admin.Client.GetAsync("/api/v1/documents")).JsonAsync();
        list.GetProperty("items").GetArrayLength().ShouldBe(0);
        var blobs = new List<string>();
        await foreach (var blob in App.Service<IBlobStore>().ListAsync(BlobKeys.TenantPrefix(Tenant.Id), CancellationToken.None))
        {
            blobs.Add(blob.Key);
        }
        blobs.ShouldBeEmpty();
    }

    private protected async Task<string> FinalKeyAsync(Guid sessionId)
    {
        await using var conn = new NpgsqlConnection(App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var select = new NpgsqlCommand("SELECT final_key FROM upload_sessions WHERE id = @id", conn, tx);
        select.Parameters.AddWithValue("id", sessionId);
        return (string)(await select.ExecuteScalarAsync())!;
    }

    private protected async Task ExpireAsync(Guid sessionId)
    {
        await using var conn = new NpgsqlConnection(App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', true)", conn, tx);
        await set.ExecuteNonQueryAsync();
        await using var expire = new NpgsqlCommand("UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE id = @id", conn, tx);
        expire.Parameters.AddWithValue("id", sessionId);
        (await expire.ExecuteNonQueryAsync()).ShouldBe(1);
        await tx.CommitAsync();
    }
}

/// <summary>
/// Direct upload through upload sessions and download by redirect, end to end over HTTP as a client
/// does it: create a session, PUT the bytes to the URL it returns, complete, download.
/// </summary>
public abstract class DirectUploadTests : StorageApiTests
{
    [Fact]
    public async Task Single_put_upload_becomes_a_document_and_downloads_identically_by_redirect_and_stream()
    {
        var content = Uploads.Pdf(100_000); // below both apps' multipart thresholds
        var sha = Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant();
        var session = await CreateSessionAsync("direct.pdf", content.Length, sha);
        session.GetProperty("method").GetString().ShouldBe("PUT");
        session.GetProperty("parts").ValueKind.ShouldBe(JsonValueKind.Null);
        session.GetProperty("expiresAt").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddMinutes(50));
        await PutAsync(session, content);

        using var completed = await CompleteAsync(session, new { title = "Direct upload", tags = new[] { "Direct" } });
        await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = await completed.JsonAsync();
        document.GetProperty("title").GetString().ShouldBe("Direct upload");
        document.GetProperty("tags")[0].GetString().ShouldBe("direct");
        var version = document.GetProperty("currentVersion");
        version.GetProperty("sha256").GetString().ShouldBe(sha);
        version.GetProperty("size").GetInt64().ShouldBe(content.Length);
        version.GetProperty("contentType").GetString().ShouldBe("application/pdf");
        var documentId = document.GetProperty("id").GetGuid();

        (await DownloadByRedirectAsync(documentId)).ShouldBe(content);
        using var streamed = await Tenant.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false");
        await streamed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await streamed.Content.ReadAsByteArrayAsync()).ShouldBe(content);

        var status = await (await Tenant.Admin.Client.GetAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}")).JsonAsync();
        status.GetProperty("status").GetString().ShouldBe("Completed");
        status.GetProperty("documentId").GetGuid().ShouldBe(documentId);

        using var again = await CompleteAsync(session);
        await again.ShouldBeProblemAsync(HttpStatusCode.Conflict, "upload.not_pending");
    }

    [Fact]
    public async Task Multipart_upload_with_presigned_part_urls_becomes_one_document()
    {
        var content = Uploads.Pdf(MultipartFileSize);
        var session = await CreateSessionAsync("parts.pdf", content.Length);
        session.GetProperty("url").ValueKind.ShouldBe(JsonValueKind.Null);
        var partSize = session.GetProperty("partSize").GetInt64();
        var parts = session.GetProperty("parts").EnumerateArray().ToList();
        parts.Count.ShouldBe((int)((content.Length + partSize - 1) / partSize));
        parts.Count.ShouldBeGreaterThan(1);

        var etags = new List<object>();
        foreach (var part in parts)
        {
            var number = part.GetProperty("number").GetInt32();
            var slice = content[(int)((number - 1) * partSize)..(int)Math.Min(number * partSize, content.Length)];
            using var response = await App.SendToUrlAsync(HttpMethod.Put, new Uri(part.GetProperty("url").GetString()!), new ByteArrayContent(slice));
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            etags.Add(new { number, etag = response.Headers.ETag!.Tag });
        }

        using var missingParts = await CompleteAsync(session, new { title = "Parts", parts = etags.Take(1).ToArray() });
        await missingParts.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "upload.parts_invalid");

        using var completed = await CompleteAsync(session, new { title = "Parts", parts = etags });
        await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = await completed.JsonAsync();
        document.GetProperty("currentVersion").GetProperty("size").GetInt64().ShouldBe(content.Length);
        (await DownloadByRedirectAsync(document.GetProperty("id").GetGuid())).ShouldBe(content);
    }

    [Fact]
    public async Task A_checksum_mismatch_is_422_and_leaves_nothing()
    {
        var content = Uploads.Pdf(50_000);
        var session = await CreateSessionAsync("tampered.pdf", content.Length, new string('a', 64));
        await PutAsync(session, content);
        using var completed = await CompleteAsync(session);
        await completed.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "upload.checksum_mismatch");
        await ShouldBeEmptyAsync();
        var status = await (await Tenant.Admin.Client.GetAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}")).JsonAsync();
        status.GetProperty("status").GetString().ShouldBe("Failed");
    }

    [Fact]
    public async Task Wrong_size_or_content_is_422_and_leaves_nothing()
    {
        var sized = await CreateSessionAsync("short.pdf", 60_000);
        await PutAsync(sized, Uploads.Pdf(50_000));
        await (await CompleteAsync(sized)).ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "upload.size_mismatch");

        var text = Uploads.Text("this is not a pdf at all");
        var mislabelled = await CreateSessionAsync("fake.pdf", text.Length);
        await PutAsync(mislabelled, text);
        await (await CompleteAsync(mislabelled)).ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "upload.content_mismatch");
        await ShouldBeEmptyAsync();
    }

    [Fact]
    public async Task Completing_again_after_an_attempt_interrupted_after_the_move_verifies_the_moved_bytes()
    {
        var content = Uploads.Pdf(30_000);
        var session = await CreateSessionAsync("interrupted.pdf", content.Length);
        await PutAsync(session, content);
        var sessionId = session.GetProperty("id").GetGuid();
        // What a crash between the move and the commit leaves: bytes at the final key, session still Pending.
        var store = App.Service<IBlobStore>();
        await store.MoveAsync(BlobKeys.ForStaging(Tenant.Id, sessionId), await FinalKeyAsync(sessionId), CancellationToken.None);

        using var completed = await CompleteAsync(session);
        await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = await completed.JsonAsync();
        (await DownloadByRedirectAsync(document.GetProperty("id").GetGuid())).ShouldBe(content);
    }

    [Fact]
    public async Task Null_tags_or_parts_are_client_errors()
    {
        var session = await CreateSessionAsync("nulls.txt", 4);
        await PutAsync(session, Uploads.Text("text"));
        using var nullTag = await Tenant.Admin.Client.PostAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}/complete",
            new StringContent("{\"tags\":[null]}", System.Text.Encoding.UTF8, "application/json"));
        await nullTag.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");

        var multipart = await CreateSessionAsync("parts.pdf", MultipartFileSize);
        var count = multipart.GetProperty("parts").GetArrayLength();
        var parts = string.Join(",", Enumerable.Repeat("null", count));
        using var nullParts = await Tenant.Admin.Client.PostAsync($"/api/v1/uploads/{multipart.GetProperty("id").GetGuid()}/complete",
            new StringContent($"{{\"parts\":[{parts}]}}", System.Text.Encoding.UTF8, "application/json"));
        await nullParts.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "upload.parts_invalid");
    }

    [Fact]
    public async Task Completing_before_the_bytes_arrive_is_422_and_the_session_stays_usable()
    {
        var content = Uploads.Text("arrives later");
        var session = await CreateSessionAsync("later.txt", content.Length);
        await (await CompleteAsync(session)).ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "upload.object_missing");
        await PutAsync(session, content);
        await (await CompleteAsync(session)).ShouldHaveStatusAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task Abort_removes_the_staged_bytes_and_closes_the_session()
    {
        var content = Uploads.Pdf(10_000);
        var session = await CreateSessionAsync("aborted.pdf", content.Length);
        await PutAsync(session, content);
        using var abort = await Tenant.Admin.Client.DeleteAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}");
        await abort.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        await (await CompleteAsync(session)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "upload.not_pending");
        using var abortAgain = await Tenant.Admin.Client.DeleteAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}");
        await abortAgain.ShouldBeProblemAsync(HttpStatusCode.Conflict, "upload.not_pending");
        await ShouldBeEmptyAsync();
    }

    [Fact]
    public async Task Completing_an_expired_session_is_410()
    {
        var content = Uploads.Pdf(10_000);
        var session = await CreateSessionAsync("expired.pdf", content.Length);
        await PutAsync(session, content);
        await ExpireAsync(session.GetProperty("id").GetGuid());
        await (await CompleteAsync(session)).ShouldBeProblemAsync(HttpStatusCode.Gone, "upload.expired");
        await ShouldBeEmptyAsync();
    }

    [Fact]
    public async Task Completing_a_session_the_reconciliation_job_expired_is_410()
    {
        var content = Uploads.Pdf(10_000);
        var session = await CreateSessionAsync("swept.pdf", content.Length);
        await PutAsync(session, content);
        await ExpireAsync(session.GetProperty("id").GetGuid());
        for (var attempt = 0; attempt < 200 && (await App.Service<Dms.Modules.Documents.Reconciliation.StorageReconciler>().RunOnceAsync(null, CancellationToken.None)).Skipped; attempt++)
        {
            await Task.Delay(50);
        }
        using var status = await Tenant.Admin.Client.GetAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}");
        (await status.JsonAsync()).GetProperty("status").GetString().ShouldBe("Expired");
        await (await CompleteAsync(session)).ShouldBeProblemAsync(HttpStatusCode.Gone, "upload.expired");
        await ShouldBeEmptyAsync();
    }

    [Fact]
    public async Task Sessions_are_private_to_their_creator_and_tenant()
    {
        var session = await CreateSessionAsync("mine.txt", 5);
        var member = await Tenant.CreateUserAsync("Member");
        using var other = await member.Client.GetAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}");
        await other.ShouldBeProblemAsync(HttpStatusCode.NotFound, "upload.not_found");
        await (await CompleteAsync(session, client: member.Client)).ShouldBeProblemAsync(HttpStatusCode.NotFound, "upload.not_found");

        var stranger = await App.CreateTenantAsync();
        await (await CompleteAsync(session, client: stranger.Admin.Client)).ShouldBeProblemAsync(HttpStatusCode.NotFound, "upload.not_found");
        var viewer = await Tenant.CreateUserAsync("Viewer");
        using var viewerCreate = await viewer.Client.PostAsJsonAsync("/api/v1/uploads", new { fileName = "v.txt", size = 1 });
        await viewerCreate.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
    }

    [Theory]
    [InlineData("{\"fileName\":\"virus.exe\",\"size\":10}", 415, "document.type_not_allowed")]
    [InlineData("{\"fileName\":\"huge.pdf\",\"size\":99999999999}", 413, "document.too_large")]
    [InlineData("{\"fileName\":\"a.pdf\",\"size\":-1}", 400, "validation.failed")]
    [InlineData("{\"fileName\":\"a.pdf\"}", 400, "validation.failed")]
    [InlineData("{\"fileName\":\"a.pdf\",\"size\":10,\"sha256\":\"xyz\"}", 400, "validation.failed")]
    [InlineData("{\"fileName\":\"\",\"size\":10}", 400, "validation.failed")]
    [InlineData("{\"fileName\":\"a.pdf\",\"size\":\"ten\"}", 400, "request.malformed")]
    public async Task Invalid_session_requests_are_rejected(string json, int status, string code)
    {
        using var response = await Tenant.Admin.Client.PostAsync("/api/v1/uploads", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        await response.ShouldBeProblemAsync((HttpStatusCode)status, code);
    }
}

public sealed class FileSystemDirectUploadTests : DirectUploadTests
{
    private protected override Task<DmsApp> AppAsync() => DmsApp.GetAsync();
    private protected override int MultipartFileSize => 200_000;

    [Fact]
    public async Task A_tampered_expired_or_wrong_method_signed_url_is_403()
    {
        var session = await CreateSessionAsync("signed.txt", 5);
        var url = new Uri(session.GetProperty("url").GetString()!);

        var tampered = new Uri(url.ToString().Replace("token=", "token=x", StringComparison.Ordinal));
        using (var response = await App.SendToUrlAsync(HttpMethod.Put, tampered, new ByteArrayContent(Uploads.Text("hello"))))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "storage.signature_invalid");
        }
        using (var wrongMethod = await App.SendToUrlAsync(HttpMethod.Get, url))
        {
            await wrongMethod.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "storage.signature_invalid");
        }
        using (var tooBig = await App.SendToUrlAsync(HttpMethod.Put, url, new ByteArrayContent(Uploads.Text("more than five bytes"))))
        {
            await tooBig.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "storage.too_large");
        }

        var store = App.Service<IBlobStore>();
        var expired = store.PresignPut(BlobKeys.ForStaging(Tenant.Id, Guid.NewGuid()), 5, DateTimeOffset.UtcNow.AddSeconds(-1), new Uri("http://localhost/"));
        using var late = await App.SendToUrlAsync(HttpMethod.Put, expired, new ByteArrayContent(Uploads.Text("hello")));
        await late.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "storage.signature_expired");
    }

    [Fact]
    public async Task Each_part_url_takes_no_more_than_its_part_so_the_last_one_refuses_a_full_part()
    {
        var session = await CreateSessionAsync("parts.pdf", MultipartFileSize);
        var parts = session.GetProperty("parts").EnumerateArray().ToList();
        var partSize = session.GetProperty("partSize").GetInt64();
        (MultipartFileSize % partSize).ShouldNotBe(0);
        using var tooBig = await App.SendToUrlAsync(HttpMethod.Put, new Uri(parts[^1].GetProperty("url").GetString()!), new ByteArrayContent(new byte[partSize]));
        await tooBig.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "storage.too_large");
    }

    [Fact]
    public async Task A_signed_download_url_supports_ranges()
    {
        var content = Uploads.Pdf(20_000);
        var session = await CreateSessionAsync("range.pdf", content.Length);
        await PutAsync(session, content);
        var document = await (await CompleteAsync(session)).JsonAsync();
        var noRedirect = App.ClientWithTokenNoRedirect(Tenant.Admin.Tokens.AccessToken);
        using var redirect = await noRedirect.GetAsync($"/api/v1/documents/{document.GetProperty("id").GetGuid()}/content");
        using var request = new HttpRequestMessage(HttpMethod.Get, redirect.Headers.Location!.PathAndQuery);
        request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(100, 199);
        using var partial = await noRedirect.SendAsync(request);
        await partial.ShouldHaveStatusAsync(HttpStatusCode.PartialContent);
        (await partial.Content.ReadAsByteArrayAsync()).ShouldBe(content[100..200]);
    }
}

public sealed class S3DirectUploadTests : DirectUploadTests
{
    private protected override Task<DmsApp> AppAsync() => DmsApp.GetS3Async();
    private protected override int MultipartFileSize => 11 * 1024 * 1024;

    [Fact]
    public async Task Presigned_put_and_part_urls_sign_the_declared_length()
    {
        // moto does not check signatures, so what can be checked here is that the length is among the signed headers:
        // real S3 (and MinIO) then refuse a body of any other length.
        var single = await CreateSessionAsync("signed.txt", 1234);
        Uri.UnescapeDataString(new Uri(single.GetProperty("url").GetString()!).Query).ShouldContain("X-Amz-SignedHeaders=content-length;host");
        var multi = await CreateSessionAsync("signed.pdf", MultipartFileSize);
        foreach (var part in multi.GetProperty("parts").EnumerateArray())
        {
            Uri.UnescapeDataString(new Uri(part.GetProperty("url").GetString()!).Query).ShouldContain("X-Amz-SignedHeaders=content-length;host");
        }
    }

    [Fact]
    public async Task The_redirect_points_at_storage_not_at_the_api()
    {
        var content = Uploads.Text("straight from the bucket");
        var session = await CreateSessionAsync("bucket.txt", content.Length);
        new Uri(session.GetProperty("url").GetString()!).Host.ShouldBe("127.0.0.1");
        await PutAsync(session, content);
        var document = await (await CompleteAsync(session)).JsonAsync();
        var noRedirect = App.ClientWithTokenNoRedirect(Tenant.Admin.Tokens.AccessToken);
        using var redirect = await noRedirect.GetAsync($"/api/v1/documents/{document.GetProperty("id").GetGuid()}/content");
        redirect.Headers.Location!.Host.ShouldBe("127.0.0.1");
        redirect.Headers.Location.Query.ShouldContain("X-Amz-Signature");
    }
}
