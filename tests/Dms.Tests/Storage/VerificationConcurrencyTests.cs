using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Dms.Tests.Storage;

/// <summary>
/// Completing a direct upload (and a replace request by uploadId) reads the whole blob to hash it. That storage work
/// holds no row lock: while it runs the document answers edits at once, a second completion of the same session is a
/// clean 409, and a client that goes away stops it and leaves the session usable. The real FileSystem store is wrapped
/// so that reading the verified blob waits for the test's go: "a large blob being hashed" without timing luck.
/// </summary>
public sealed class VerificationConcurrencyTests : IAsyncLifetime
{
    private readonly PausingBlobStore.Gate _gate = new();
    private DmsApp _app = null!;
    private TestTenant _tenant = null!;
    private SignedIn _member = null!;

    public async Task InitializeAsync()
    {
        _app = await DmsApp.CreateIsolatedAsync($"verify_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>(), services =>
        {
            var original = services.Last(d => d.ServiceType == typeof(IBlobStore));
            services.Remove(original);
            services.AddSingleton<IBlobStore>(sp => new PausingBlobStore((IBlobStore)original.ImplementationFactory!(sp), _gate));
        });
        _tenant = await _app.CreateTenantAsync();
        _member = await _tenant.CreateUserAsync("Member");
    }

    public async Task DisposeAsync()
    {
        _gate.Open();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task While_a_replacement_is_verified_the_document_stays_editable_and_a_second_completion_is_409()
    {
        using var upload = await _member.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text("original")));
        await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        var etag = upload.Headers.ETag!.ToString();
        var sessionId = await StagedSessionAsync("doc.txt", Uploads.Text("the replacement"));

        _gate.Close();
        var first = _member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/replace-requests", new { uploadId = sessionId, reason = "newer" });
        await _gate.Entered.WaitAsync(TimeSpan.FromSeconds(30));

        using (var quick = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            using var edit = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{documentId}") { Content = JsonContent.Create(new { title = "Edited meanwhile" }) };
            edit.Headers.TryAddWithoutValidation("If-Match", etag);
            using var edited = await _member.Client.SendAsync(edit, quick.Token);
            await edited.ShouldHaveStatusAsync(HttpStatusCode.OK);
            using var second = await _member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/replace-requests", new { uploadId = sessionId, reason = "again" }, quick.Token);
            await second.ShouldBeProblemAsync(HttpStatusCode.Conflict, "upload.in_progress");
            (await SessionStatusAsync(sessionId, quick.Token)).ShouldBe("Verifying");
        }

        _gate.Open();
        using var created = await first.WaitAsync(TimeSpan.FromSeconds(30));
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = await (await _member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("status").GetString().ShouldBe("PendingReplace");
        document.GetProperty("title").GetString().ShouldBe("Edited meanwhile");
        (await SessionStatusAsync(sessionId, CancellationToken.None)).ShouldBe("Completed");
    }

    [Fact]
    public async Task A_concurrent_second_completion_is_409_and_a_client_that_goes_away_stops_the_verification()
    {
        var content = Uploads.Pdf(50_000);
        var sessionId = await StagedSessionAsync("big.pdf", content);

        _gate.Close();
        using (var gone = new CancellationTokenSource())
        {
            var abandoned = _member.Client.PostAsJsonAsync($"/api/v1/uploads/{sessionId}/complete", new { title = "Big" }, gone.Token);
            await _gate.Entered.WaitAsync(TimeSpan.FromSeconds(30));
            using (var second = await _member.Client.PostAsJsonAsync($"/api/v1/uploads/{sessionId}/complete", new { title = "Twice" }))
            {
                await second.ShouldBeProblemAsync(HttpStatusCode.Conflict, "upload.in_progress");
            }
            await gone.CancelAsync();
            await Should.ThrowAsync<OperationCanceledException>(abandoned.WaitAsync(TimeSpan.FromSeconds(30)));
        }

        // The server noticed and gave the session back, with the gate still closed: nothing finished the read.
        var status = "";
        for (var i = 0; i < 200 && (status = await SessionStatusAsync(sessionId, CancellationToken.None)) != "Pending"; i++)
        {
            await Task.Delay(50);
        }
        status.ShouldBe("Pending");

        _gate.Open();
        using var completed = await _member.Client.PostAsJsonAsync($"/api/v1/uploads/{sessionId}/complete", new { title = "Big" });
        await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
    }

    /// <summary>A direct-upload session whose bytes are staged (written with the store itself, as a client's PUT would).</summary>
    private async Task<Guid> StagedSessionAsync(string fileName, byte[] content)
    {
        using var created = await _member.Client.PostAsJsonAsync("/api/v1/uploads", new { fileName, size = content.Length });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var sessionId = (await created.JsonAsync()).GetProperty("id").GetGuid();
        await _app.Service<IBlobStore>().PutAsync(BlobKeys.ForStaging(_tenant.Id, sessionId), new MemoryStream(content), CancellationToken.None);
        return sessionId;
    }

    private async Task<string> SessionStatusAsync(Guid sessionId, CancellationToken ct)
    {
        using var response = await _member.Client.GetAsync($"/api/v1/uploads/{sessionId}", ct);
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("status").GetString()!;
    }
}

/// <summary>The real store, except that reading a stored version's bytes waits while the gate is closed.</summary>
internal sealed class PausingBlobStore(IBlobStore inner, PausingBlobStore.Gate gate) : IBlobStore
{
    internal sealed class Gate
    {
        private volatile TaskCompletionSource _open = Opened();
        private volatile TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task;

        public void Close()
        {
            _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public void Open() => _open.TrySetResult();

        public async Task PassAsync(CancellationToken ct)
        {
            _entered.TrySetResult();
            await _open.Task.WaitAsync(ct);
        }

        private static TaskCompletionSource Opened()
        {
            var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.SetResult();
            return open;
        }
    }

    public async Task<Stream?> OpenReadAsync(string key, long offset, long? length, CancellationToken ct)
    {
        if (!key.Contains("/staging/", StringComparison.Ordinal))
        {
            await gate.PassAsync(ct);
        }
        return await inner.OpenReadAsync(key, offset, length, ct);
    }

    public Task PutAsync(string key, Stream content, CancellationToken ct) => inner.PutAsync(key, content, ct);
    public Task<BlobProperties?> HeadAsync(string key, CancellationToken ct) => inner.HeadAsync(key, ct);
    public Task DeleteAsync(string key, CancellationToken ct) => inner.DeleteAsync(key, ct);
    public Task MoveAsync(string sourceKey, string destinationKey, CancellationToken ct) => inner.MoveAsync(sourceKey, destinationKey, ct);
    public IAsyncEnumerable<BlobProperties> ListAsync(string prefix, CancellationToken ct) => inner.ListAsync(prefix, ct);

    public Task<int> RemoveAbandonedWritesAsync(string prefix, DateTimeOffset olderThan, CancellationToken ct) => inner.RemoveAbandonedWritesAsync(prefix, olderThan, ct);
    public Uri PresignPut(string key, long maxBytes, DateTimeOffset expires, Uri apiBase) => inner.PresignPut(key, maxBytes, expires, apiBase);
    public Uri PresignGet(string key, BlobDownloadInfo download, DateTimeOffset expires, Uri apiBase) => inner.PresignGet(key, download, expires, apiBase);
    public Task<string> StartMultipartAsync(string key, CancellationToken ct) => inner.StartMultipartAsync(key, ct);
    public Uri PresignPart(string key, string uploadId, int partNumber, long maxBytes, DateTimeOffset expires, Uri apiBase) =>
        inner.PresignPart(key, uploadId, partNumber, maxBytes, expires, apiBase);
    public Task CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct) =>
        inner.CompleteMultipartAsync(key, uploadId, parts, ct);
    public Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct) => inner.AbortMultipartAsync(key, uploadId, ct);
    public Task ProbeAsync(CancellationToken ct) => inner.ProbeAsync(ct);
}
