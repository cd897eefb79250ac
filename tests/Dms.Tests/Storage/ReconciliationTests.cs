using System.Net;
using System.Net.Http.Json;
using Dms.Modules.Documents.Reconciliation;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Storage;

/// <summary>
/// Orphan clean-up against a real store: what an abandoned upload left is removed, what a version
/// references never is, even when the job runs with no grace period in the middle of a burst of uploads.
/// </summary>
public abstract class ReconciliationTests : StorageApiTests
{
    private async Task<ReconcileReport> ReconcileAsync(TimeSpan? grace)
    {
        // Another test (or the app's own timer) may hold the single-runner lock for a moment.
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var report = await App.Service<StorageReconciler>().RunOnceAsync(grace, CancellationToken.None);
            if (!report.Skipped)
            {
                return report;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("The reconciliation lock was never free.");
    }

    [Fact]
    public async Task A_staged_upload_that_is_never_completed_is_gone_after_expiry_and_clean_up()
    {
        var content = Uploads.Pdf(20_000);
        var session = await CreateSessionAsync("abandoned.pdf", content.Length);
        await PutAsync(session, content);
        var sessionId = session.GetProperty("id").GetGuid();
        var staging = BlobKeys.ForStaging(Tenant.Id, sessionId);
        var store = App.Service<IBlobStore>();
        (await store.HeadAsync(staging, CancellationToken.None)).ShouldNotBeNull();

        await ReconcileAsync(null);
        (await store.HeadAsync(staging, CancellationToken.None)).ShouldNotBeNull("a live session's bytes stay");

        await ExpireAsync(sessionId);
        await ReconcileAsync(null);
        (await store.HeadAsync(staging, CancellationToken.None)).ShouldBeNull();
        var status = await (await Tenant.Admin.Client.GetAsync($"/api/v1/uploads/{sessionId}")).JsonAsync();
        status.GetProperty("status").GetString().ShouldBe("Expired");
        await ShouldBeEmptyAsync();
    }

    [Fact]
    public async Task An_unreferenced_blob_is_removed_only_after_the_grace_period()
    {
        // What an upload leaves when storage succeeded and the database write did not.
        var store = App.Service<IBlobStore>();
        var orphan = BlobKeys.ForVersion(Tenant.Id, Guid.NewGuid(), Guid.NewGuid());
        await store.PutAsync(orphan, new MemoryStream(Uploads.Text("nobody points at me")), CancellationToken.None);

        await ReconcileAsync(TimeSpan.FromHours(1));
        (await store.HeadAsync(orphan, CancellationToken.None)).ShouldNotBeNull("younger than the grace period");

        var report = await ReconcileAsync(TimeSpan.Zero);
        (await store.HeadAsync(orphan, CancellationToken.None)).ShouldBeNull();
        report.OrphansRemoved.ShouldBeGreaterThanOrEqualTo(1);
    }

    [Fact]
    public async Task Referenced_blobs_survive_clean_ups_running_through_a_burst_of_uploads()
    {
        using var stop = new CancellationTokenSource();
        var passes = 0;
        var sweeper = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var report = await App.Service<StorageReconciler>().RunOnceAsync(TimeSpan.Zero, CancellationToken.None);
                if (!report.Skipped)
                {
                    Interlocked.Increment(ref passes);
                }
            }
        });

        var uploads = await Task.WhenAll(Enumerable.Range(0, 24).Select(async i =>
        {
            var content = Uploads.Pdf(30_000 + i);
            if (i % 2 == 0)
            {
                using var streamed = await Tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"burst-{i}.pdf", content));
                await streamed.ShouldHaveStatusAsync(HttpStatusCode.Created);
                return ((await streamed.JsonAsync()).GetProperty("id").GetGuid(), content);
            }
            var session = await CreateSessionAsync($"burst-{i}.pdf", content.Length);
            await PutAsync(session, content);
            using var completed = await CompleteAsync(session);
            await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
            return ((await completed.JsonAsync()).GetProperty("id").GetGuid(), content);
        }));

        while (Volatile.Read(ref passes) < 3)
        {
            await Task.Delay(20);
        }
        await stop.CancelAsync();
        await sweeper;
        await ReconcileAsync(TimeSpan.Zero);

        foreach (var (id, content) in uploads)
        {
            using var download = await Tenant.Admin.Client.GetAsync($"/api/v1/documents/{id}/content?redirect=false");
            await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await download.Content.ReadAsByteArrayAsync()).ShouldBe(content);
        }
        var listed = new List<string>();
        // The audit anchor job may write a signed checkpoint under the tenant's prefix meanwhile (ADR 0012): not a document's blob.
        var checkpoints = BlobKeys.AuditCheckpointPrefix(Tenant.Id);
        await foreach (var blob in App.Service<IBlobStore>().ListAsync(BlobKeys.TenantPrefix(Tenant.Id), CancellationToken.None))
        {
            if (!blob.Key.StartsWith(checkpoints, StringComparison.Ordinal))
            {
                listed.Add(blob.Key);
            }
        }
        listed.Count.ShouldBe(uploads.Length, "one blob per version, nothing staged left over");
    }
}

public sealed class FileSystemReconciliationTests : ReconciliationTests
{
    private protected override Task<DmsApp> AppAsync() => DmsApp.GetAsync();
    private protected override int MultipartFileSize => 200_000;

    [Fact]
    public async Task The_temporary_file_of_a_write_cut_off_by_a_crash_is_removed_once_it_is_old_and_a_live_one_is_kept()
    {
        // What a kill in the middle of a thumbnail's write left (the crash loop once found one): the file store's temporary file.
        var key = BlobKeys.ForVersion(Tenant.Id, Guid.NewGuid(), Guid.NewGuid());
        var path = Path.Combine(App.BlobRoot, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var abandoned = $"{path}.{Guid.NewGuid():N}.partial";
        var live = $"{path}.{Guid.NewGuid():N}.partial";
        await File.WriteAllTextAsync(abandoned, "cut off");
        await File.WriteAllTextAsync(live, "still being written");
        File.SetLastWriteTimeUtc(abandoned, DateTime.UtcNow.AddHours(-2));

        for (var attempt = 0; attempt < 200 && (await App.Service<StorageReconciler>().RunOnceAsync(TimeSpan.Zero, CancellationToken.None)).Skipped; attempt++)
        {
            await Task.Delay(50);
        }
        File.Exists(abandoned).ShouldBeFalse("untouched for longer than Dms__Storage__AbandonedWriteAge (1 h)");
        File.Exists(live).ShouldBeTrue("a temporary file touched just now may belong to a live write, whatever the orphan grace period");
        File.Delete(live);
    }
}

public sealed class S3ReconciliationTests : ReconciliationTests
{
    private protected override Task<DmsApp> AppAsync() => DmsApp.GetS3Async();
    private protected override int MultipartFileSize => 11 * 1024 * 1024;
}
