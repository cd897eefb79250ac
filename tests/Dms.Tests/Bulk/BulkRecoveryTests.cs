using System.Net;
using Dms.Modules.Documents.Bulk;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Shouldly;
using Xunit;

namespace Dms.Tests.Bulk;

/// <summary>An app of its own whose bulk worker is not started: the test is the worker, and plays the one that dies.</summary>
public sealed class BulkRecoveryFixture : IAsyncLifetime
{
    internal DmsApp App { get; private set; } = null!;
    internal TestTenant Tenant { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await DmsApp.CreateIsolatedAsync($"bulk_{Guid.NewGuid():N}"[..16], new Dictionary<string, string> { ["Dms:Bulk:BatchSize"] = "10" },
            services =>
            {
                foreach (var worker in services.Where(s => s.ServiceType == typeof(IHostedService) && s.ImplementationType == typeof(BulkWorker)).ToList())
                {
                    services.Remove(worker);
                }
            });
        Tenant = await App.CreateTenantAsync();
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>
/// Crash safety (ADR 0028): items are leased in batches; a worker that dies holding a batch leaves its lease to lapse and
/// another worker finishes the job, with one result and one change (one audit event) per document.
/// </summary>
public sealed class BulkRecoveryTests(BulkRecoveryFixture f) : IClassFixture<BulkRecoveryFixture>
{
    private async Task<int> RunUntilIdleAsync()
    {
        var runner = f.App.Service<BulkRunner>();
        var total = 0;
        int n;
        while ((n = await runner.RunOnceAsync(CancellationToken.None)) > 0)
        {
            total += n;
        }
        return total;
    }

    [Fact]
    public async Task A_job_whose_worker_died_is_resumed_by_another_after_the_lease_lapses()
    {
        var t = f.Tenant;
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 30, "Crash", _ => ["keep"]);
        var jobId = await BulkSupport.StartAsync(t.Admin, new { action = "addTags", documentIds = ids, @params = new { tags = new[] { "resumed" } } });
        (await BulkSupport.GetAsync(t.Admin, jobId)).GetProperty("status").GetString().ShouldBe("queued");

        // A worker takes the first batch of ten and dies before recording anything.
        var leased = await BulkSupport.OwnerQueryAsync<Guid>(t, "SELECT document_id FROM bulk_claim('dead-node', 10, interval '1 hour')");
        leased.Count.ShouldBe(10);

        (await RunUntilIdleAsync()).ShouldBe(20, "the live worker takes only the items nobody holds");
        var halfway = await BulkSupport.GetAsync(t.Admin, jobId);
        halfway.GetProperty("status").GetString().ShouldBe("running");
        (halfway.GetProperty("done").GetInt32(), halfway.GetProperty("pending").GetInt32()).ShouldBe((20, 10));

        // The dead worker's lease lapses; the next pass takes its items over.
        await BulkSupport.OwnerQueryAsync<int>(t, "UPDATE bulk_job_items SET locked_until = now() - interval '1 second' WHERE locked_by = 'dead-node' RETURNING seq");
        (await RunUntilIdleAsync()).ShouldBe(10);

        var job = await BulkSupport.GetAsync(t.Admin, jobId);
        job.GetProperty("status").GetString().ShouldBe("done");
        (job.GetProperty("done").GetInt32(), job.GetProperty("skipped").GetInt32(), job.GetProperty("failed").GetInt32()).ShouldBe((30, 0, 0));
        var tags = await BulkSupport.OwnerQueryAsync<string[]>(t, "SELECT tags FROM documents WHERE id = ANY(@ids)", new { ids = ids.ToArray() });
        tags.ShouldAllBe(x => x.SequenceEqual(new[] { "keep", "resumed" }));
        var events = await BulkSupport.OwnerQueryAsync<long>(t,
            "SELECT count(*) FROM audit_events WHERE action = 'document.updated' AND entity_id = ANY(@ids) GROUP BY entity_id", new { ids = ids.Select(i => i.ToString()).ToArray() });
        events.Count.ShouldBe(30);
        events.ShouldAllBe(n => n == 1);
    }

    [Fact]
    public async Task A_result_recorded_by_the_worker_that_took_over_is_not_recorded_again_by_the_one_that_lost_its_lease()
    {
        var t = f.Tenant;
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 3, "Late", _ => []);
        var jobId = await BulkSupport.StartAsync(t.Admin, new { action = "addTags", documentIds = ids, @params = new { tags = new[] { "once" } } });
        // A slow worker's lease on all three lapsed; another finished them; the slow one then tries to record: nothing changes.
        await BulkSupport.OwnerQueryAsync<Guid>(t, "SELECT document_id FROM bulk_claim('slow-node', 10, interval '1 hour')");
        await BulkSupport.OwnerQueryAsync<int>(t, "UPDATE bulk_job_items SET locked_until = now() - interval '1 second' WHERE job_id = @jobId RETURNING seq", new { jobId });
        (await RunUntilIdleAsync()).ShouldBe(3);
        var late = await BulkSupport.OwnerQueryAsync<int>(t,
            "UPDATE bulk_job_items SET outcome = 'Failed' WHERE job_id = @jobId AND outcome IS NULL AND locked_by = 'slow-node' RETURNING seq", new { jobId });
        late.ShouldBeEmpty();
        (await BulkSupport.GetAsync(t.Admin, jobId)).GetProperty("done").GetInt32().ShouldBe(3);
    }

    [Fact]
    public async Task A_zip_is_offered_only_when_its_job_is_done_and_only_to_its_requester_and_a_job_can_be_canceled()
    {
        var t = f.Tenant;
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 4, "Wait", _ => [], content: i => [(byte)i]);
        var zipJob = await BulkSupport.StartAsync(t.Admin, new { action = "zip", documentIds = ids });
        using (var early = await t.Admin.Client.GetAsync($"/api/v1/bulk-jobs/{zipJob}/content"))
        {
            await early.ShouldBeProblemAsync(HttpStatusCode.Conflict, "bulk.not_ready");
        }
        var tagJob = await BulkSupport.StartAsync(t.Admin, new { action = "addTags", documentIds = ids, @params = new { tags = new[] { "never" } } });
        using (var canceled = await t.Admin.Client.PostAsync($"/api/v1/bulk-jobs/{tagJob}/cancel", null))
        {
            await canceled.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var job = await canceled.JsonAsync();
            job.GetProperty("status").GetString().ShouldBe("canceled");
            job.GetProperty("skipped").GetInt32().ShouldBe(4);
        }
        using (var again = await t.Admin.Client.PostAsync($"/api/v1/bulk-jobs/{tagJob}/cancel", null))
        {
            await again.ShouldBeProblemAsync(HttpStatusCode.Conflict, "bulk.finished");
        }
        await RunUntilIdleAsync();
        (await BulkSupport.OwnerQueryAsync<string[]>(t, "SELECT tags FROM documents WHERE id = ANY(@ids)", new { ids = ids.ToArray() })).ShouldAllBe(x => x.Length == 0);
        (await BulkSupport.GetAsync(t.Admin, zipJob)).GetProperty("status").GetString().ShouldBe("done");
        using (var other = await (await t.CreateUserAsync("Admin")).Client.GetAsync($"/api/v1/bulk-jobs/{zipJob}/content"))
        {
            await other.ShouldBeProblemAsync(HttpStatusCode.NotFound);
        }
        using var content = await t.Admin.Client.GetAsync($"/api/v1/bulk-jobs/{zipJob}/content");
        await content.ShouldHaveStatusAsync(HttpStatusCode.OK);
        using var zip = new System.IO.Compression.ZipArchive(await content.Content.ReadAsStreamAsync());
        zip.Entries.Count.ShouldBe(4);
    }
}
