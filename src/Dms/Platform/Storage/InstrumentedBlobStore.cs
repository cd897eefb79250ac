using System.Diagnostics;
using System.Runtime.CompilerServices;
using Dms.Platform.Observability;

namespace Dms.Platform.Storage;

/// <summary>
/// Measures every call of the configured blob store (<c>dms.storage.operation.duration</c>, <c>dms.storage.errors</c>)
/// and gives it a span, so a trace shows the storage work of a request or an outbox handler. A missing blob is an
/// answer, not an error; a cancelled call is neither.
/// </summary>
internal sealed class InstrumentedBlobStore(IBlobStore inner, string provider) : IBlobStore, IDisposable
{
    public void Dispose() => (inner as IDisposable)?.Dispose();

    public IBlobStore Inner => inner;

    public Task PutAsync(string key, Stream content, CancellationToken ct) => MeasureAsync("put", () => inner.PutAsync(key, content, ct));

    public Task<Stream?> OpenReadAsync(string key, long offset, long? length, CancellationToken ct) =>
        MeasureAsync("get", () => inner.OpenReadAsync(key, offset, length, ct));

    public Task<BlobProperties?> HeadAsync(string key, CancellationToken ct) => MeasureAsync("head", () => inner.HeadAsync(key, ct));

    public Task DeleteAsync(string key, CancellationToken ct) => MeasureAsync("delete", () => inner.DeleteAsync(key, ct));

    public Task MoveAsync(string sourceKey, string destinationKey, CancellationToken ct) => MeasureAsync("move", () => inner.MoveAsync(sourceKey, destinationKey, ct));

    public async IAsyncEnumerable<BlobProperties> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var ok = false;
        try
        {
            await foreach (var item in inner.ListAsync(prefix, ct))
            {
                yield return item;
            }
            ok = true;
        }
        finally
        {
            if (ok || !ct.IsCancellationRequested)
            {
                DmsTelemetry.Storage(provider, "list", started, ok);
            }
        }
    }

    public Task<int> RemoveAbandonedWritesAsync(string prefix, DateTimeOffset olderThan, CancellationToken ct) =>
        MeasureAsync("remove_abandoned", () => inner.RemoveAbandonedWritesAsync(prefix, olderThan, ct));

    public Uri PresignPut(string key, long maxBytes, DateTimeOffset expires, Uri apiBase) => inner.PresignPut(key, maxBytes, expires, apiBase);

    public Uri PresignGet(string key, BlobDownloadInfo download, DateTimeOffset expires, Uri apiBase) => inner.PresignGet(key, download, expires, apiBase);

    public Task<string> StartMultipartAsync(string key, CancellationToken ct) => MeasureAsync("start_multipart", () => inner.StartMultipartAsync(key, ct));

    public Uri PresignPart(string key, string uploadId, int partNumber, long maxBytes, DateTimeOffset expires, Uri apiBase) =>
        inner.PresignPart(key, uploadId, partNumber, maxBytes, expires, apiBase);

    public Task CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct) =>
        MeasureAsync("complete_multipart", () => inner.CompleteMultipartAsync(key, uploadId, parts, ct));

    public Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct) =>
        MeasureAsync("abort_multipart", () => inner.AbortMultipartAsync(key, uploadId, ct));

    public Task ProbeAsync(CancellationToken ct) => MeasureAsync("probe", () => inner.ProbeAsync(ct));

    private async Task MeasureAsync(string operation, Func<Task> call) => await MeasureAsync(operation, async () =>
    {
        await call();
        return true;
    });

    private async Task<T> MeasureAsync<T>(string operation, Func<Task<T>> call)
    {
        using var activity = DmsTelemetry.Source.StartActivity($"storage {operation}", ActivityKind.Internal);
        activity?.SetTag("dms.storage.provider", provider);
        activity?.SetTag("dms.storage.operation", operation);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await call();
            DmsTelemetry.Storage(provider, operation, started, ok: true);
            return result;
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception ex)
        {
            DmsTelemetry.Storage(provider, operation, started, ok: false);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
    }
}
