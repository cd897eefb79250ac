using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Bulk;

/// <summary>
/// Bulk tags (issue 16, item 3) through HTTP, run by the app's own background worker: a filter over 5,000 documents, a
/// concurrent edit that must survive, one audit event per changed document, removeTags, and the refusals at creation.
/// </summary>
public sealed class BulkTagTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    private TestTenant T => f.Tenant;

    [Fact]
    public async Task AddTags_over_5000_matching_documents_reports_each_with_one_audit_event_and_keeps_a_concurrent_edit()
    {
        const int count = 5_000;
        // Every 50th already has the tag (skipped); all have a tag of their own that must stay.
        var (ids, _) = await BulkSupport.SeedAsync(T, T.DefaultWorkspaceId, count, "Bulk five", i => i % 50 == 0 ? ["batch5k", "own" + i, "reviewed"] : ["batch5k", "own" + i]);
        // Not matching the filter: must not be touched.
        var (outside, _) = await BulkSupport.SeedAsync(T, T.DefaultWorkspaceId, 20, "Outside", _ => ["other"]);

        var jobId = await BulkSupport.StartAsync(T.Admin, new { action = "addTags", filter = new { tag = "batch5k" }, @params = new { tags = new[] { "Reviewed" } } });
        var first = await BulkSupport.GetAsync(T.Admin, jobId);
        first.GetProperty("total").GetInt32().ShouldBe(count);
        first.GetProperty("action").GetString().ShouldBe("addTags");

        // While the job runs, someone edits the document it reaches last: title and a tag of their own, with If-Match.
        var last = (await BulkSupport.OwnerQueryAsync<Guid>(T, "SELECT document_id FROM bulk_job_items WHERE job_id = @jobId ORDER BY seq DESC LIMIT 1", new { jobId })).Single();
        await EditWithRetryAsync(last, "Edited during the job", "urgent");
        var during = await BulkSupport.GetAsync(T.Admin, jobId, "?limit=1");
        during.GetProperty("status").GetString().ShouldBeOneOf("queued", "running", "done");

        var job = await BulkSupport.WaitAsync(T.Admin, jobId);
        job.GetProperty("status").GetString().ShouldBe("done");
        job.GetProperty("done").GetInt32().ShouldBe(count - count / 50);
        job.GetProperty("skipped").GetInt32().ShouldBe(count / 50);
        job.GetProperty("failed").GetInt32().ShouldBe(0);
        job.GetProperty("finishedAt").GetDateTime().ShouldBeGreaterThanOrEqualTo(job.GetProperty("createdAt").GetDateTime());

        var results = await BulkSupport.ResultsAsync(T.Admin, jobId);
        results.Count.ShouldBe(count);
        results.Select(r => r.GetProperty("documentId").GetGuid()).ShouldBe(ids, ignoreOrder: true);
        var skipped = results.Where(r => r.GetProperty("outcome").GetString() == "skipped").ToList();
        skipped.Select(r => r.GetProperty("documentId").GetGuid()).ShouldBe(ids.Where((_, i) => i % 50 == 0), ignoreOrder: true);
        skipped.ShouldAllBe(r => r.GetProperty("reason").GetString() == "Already tagged");

        var tags = (await BulkSupport.OwnerQueryAsync<(Guid Id, string Title, string[] Tags)>(T,
            "SELECT id, title, tags FROM documents WHERE id = ANY(@ids)", new { ids = ids.Concat(outside).ToArray() })).ToDictionary(r => r.Id);
        ids.ShouldAllBe(id => tags[id].Tags.Contains("reviewed") && tags[id].Tags.Contains("batch5k"));
        ids.Select((id, i) => tags[id].Tags.Contains("own" + i)).ShouldAllBe(kept => kept, "each document's other tags stay");
        tags[last].Title.ShouldBe("Edited during the job");
        tags[last].Tags.ShouldContain("urgent");
        tags[last].Tags.ShouldContain("reviewed");
        outside.ShouldAllBe(id => !tags[id].Tags.Contains("reviewed"));

        // Exactly one audit event per changed document, as the requester; none for the skipped ones.
        var events = await BulkSupport.OwnerQueryAsync<(string EntityId, long N, Guid? Actor)>(T, """
            SELECT entity_id, count(*), min(actor_id::text)::uuid FROM audit_events
            WHERE action = 'document.updated' AND data->>'bulk' = 'addTags' AND entity_id = ANY(@ids) GROUP BY entity_id
            """, new { ids = ids.Select(i => i.ToString()).ToArray() });
        events.Count.ShouldBe(count - count / 50);
        events.ShouldAllBe(e => e.N == 1);
        var admin = await BulkSupport.AdminIdAsync(T);
        events.ShouldAllBe(e => e.Actor == admin);
        events.Select(e => Guid.Parse(e.EntityId)).ShouldNotContain(ids[0]);
    }

    /// <summary>PATCH with the ETag just read; a 412 (the job changed the row meanwhile) means read again and redo it, as a client does.</summary>
    private async Task EditWithRetryAsync(Guid documentId, string title, string tag)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            using var read = await T.Admin.Client.GetAsync($"/api/v1/documents/{documentId}");
            await read.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var document = await read.JsonAsync();
            var tags = document.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).Append(tag).ToArray();
            using var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{documentId}") { Content = JsonContent.Create(new { title, tags }) };
            request.Headers.TryAddWithoutValidation("If-Match", read.Headers.ETag!.Tag);
            using var response = await T.Admin.Client.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return;
            }
            await response.ShouldBeProblemAsync(HttpStatusCode.PreconditionFailed, "document.precondition_failed");
        }
        throw new ShouldAssertException("The edit never got through.");
    }

    [Fact]
    public async Task RemoveTags_takes_the_tags_off_and_skips_documents_without_them()
    {
        var (ids, _) = await BulkSupport.SeedAsync(T, T.DefaultWorkspaceId, 20, "Remove", i => i < 15 ? ["old", "keep"] : ["keep"]);
        var jobId = await BulkSupport.StartAsync(T.Admin, new { action = "removeTags", documentIds = ids, @params = new { tags = new[] { "old" } } });
        var job = await BulkSupport.WaitAsync(T.Admin, jobId);
        (job.GetProperty("done").GetInt32(), job.GetProperty("skipped").GetInt32(), job.GetProperty("failed").GetInt32()).ShouldBe((15, 5, 0));
        var results = job.GetProperty("results").EnumerateArray().ToList();
        results.Where(r => r.GetProperty("outcome").GetString() == "skipped").ShouldAllBe(r => r.GetProperty("reason").GetString() == "Not tagged");
        results.ShouldAllBe(r => r.GetProperty("title").GetString()!.StartsWith("Remove", StringComparison.Ordinal));
        var tags = await BulkSupport.OwnerQueryAsync<string[]>(T, "SELECT tags FROM documents WHERE id = ANY(@ids)", new { ids = ids.ToArray() });
        tags.ShouldAllBe(t => t.SequenceEqual(new[] { "keep" }));
        (await BulkSupport.OwnerQueryAsync<long>(T, "SELECT count(*) FROM audit_events WHERE action = 'document.updated' AND entity_id = ANY(@ids)",
            new { ids = ids.Select(i => i.ToString()).ToArray() })).Single().ShouldBe(15);
    }

    [Fact]
    public async Task More_than_10000_documents_unknown_actions_and_bad_params_are_refused_before_anything_runs()
    {
        var tooMany = Enumerable.Range(0, 10_001).Select(_ => Guid.NewGuid()).ToArray();
        using (var response = await T.Admin.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "addTags", documentIds = tooMany, @params = new { tags = new[] { "x" } } }))
        {
            var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "bulk.too_many");
            problem.GetProperty("count").GetInt32().ShouldBe(10_001);
        }
        using (var response = await T.Admin.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "paint", documentIds = new[] { Guid.NewGuid() } }))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "bulk.unknown_action");
        }
        using (var response = await T.Admin.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "addTags", documentIds = new[] { Guid.NewGuid() }, @params = new { tags = 3 } }))
        {
            (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed")).GetProperty("errors").TryGetProperty("params.tags", out _).ShouldBeTrue();
        }
        using (var response = await T.Admin.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "addTags", filter = new { colour = "red" }, @params = new { tags = new[] { "x" } } }))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        using (var response = await T.Admin.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "addTags", @params = new { tags = new[] { "x" } } }))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        using (var response = await T.Admin.Client.PostAsync("/api/v1/bulk-jobs", new StringContent("[1]", System.Text.Encoding.UTF8, "application/json")))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        }
        using (var response = await T.Admin.Client.GetAsync($"/api/v1/bulk-jobs/{Guid.NewGuid()}"))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "bulk_job.not_found");
        }
    }

    [Fact]
    public async Task Ids_the_caller_cannot_read_fail_as_not_found_and_reveal_nothing()
    {
        var member = await T.CreateUserAsync("Member");
        using var created = await T.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Closed {Guid.NewGuid():N}"[..20] });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var closed = (await created.JsonAsync()).GetProperty("id").GetGuid();
        var (hidden, _) = await BulkSupport.SeedAsync(T, closed, 2, "Secret board minutes", _ => []);
        var (mine, _) = await BulkSupport.SeedAsync(T, T.DefaultWorkspaceId, 1, "Open", _ => []);
        var missing = Guid.NewGuid();

        var jobId = await BulkSupport.StartAsync(member, new { action = "zip", documentIds = hidden.Append(missing).Concat(mine) });
        var job = await BulkSupport.WaitAsync(member, jobId);
        var results = job.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("documentId").GetGuid());
        foreach (var id in hidden.Append(missing))
        {
            results[id].GetProperty("outcome").GetString().ShouldBe("failed");
            results[id].GetProperty("reason").GetString().ShouldBe("Not found");
            results[id].GetProperty("code").GetString().ShouldBe("document.not_found");
            results[id].GetProperty("title").ValueKind.ShouldBe(JsonValueKind.Null);
        }
        job.ToString().ShouldNotContain("Secret board");
        results[mine[0]].GetProperty("outcome").GetString().ShouldBe("done");
        job.GetProperty("failed").GetInt32().ShouldBe(3);

        // A viewer may read but not edit: the reason says so in words.
        var viewer = await T.CreateUserAsync("Viewer");
        var refused = await BulkSupport.WaitAsync(viewer, await BulkSupport.StartAsync(viewer, new { action = "addTags", documentIds = mine, @params = new { tags = new[] { "x" } } }));
        var only = refused.GetProperty("results").EnumerateArray().Single();
        only.GetProperty("outcome").GetString().ShouldBe("failed");
        only.GetProperty("reason").GetString().ShouldBe("You can't edit this document");

        // Someone else's job is not found; the admin sees it.
        using (var other = await (await T.CreateUserAsync("Member")).Client.GetAsync($"/api/v1/bulk-jobs/{jobId}"))
        {
            await other.ShouldBeProblemAsync(HttpStatusCode.NotFound, "bulk_job.not_found");
        }
        (await BulkSupport.GetAsync(T.Admin, jobId)).GetProperty("id").GetGuid().ShouldBe(jobId);
        using var mineList = await member.Client.GetAsync("/api/v1/bulk-jobs");
        (await mineList.JsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.GetProperty("id").GetGuid()).ShouldBe([jobId]);
    }

    [Fact]
    public async Task RequestDelete_opens_a_governed_request_for_each_document()
    {
        var member = await T.CreateUserAsync("Member");
        var (ids, _) = await BulkSupport.SeedAsync(T, T.DefaultWorkspaceId, 3, "Delete me", _ => []);
        using (var bad = await member.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "requestDelete", documentIds = ids }))
        {
            (await bad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed")).GetProperty("errors").TryGetProperty("reason", out _).ShouldBeTrue();
        }
        var jobId = await BulkSupport.StartAsync(member, new { action = "requestDelete", documentIds = ids, @params = new { reason = "Superseded by the 2027 set" } });
        var job = await BulkSupport.WaitAsync(member, jobId);
        job.GetProperty("done").GetInt32().ShouldBe(3, job.ToString());

        var requests = await BulkSupport.OwnerQueryAsync<(Guid DocumentId, string Status, Guid RequestedBy, string Reason)>(T,
            "SELECT document_id, status, requested_by, reason FROM approval_requests WHERE document_id = ANY(@ids)", new { ids = ids.ToArray() });
        requests.Count.ShouldBe(3);
        requests.ShouldAllBe(r => r.Status == "Pending" && r.RequestedBy == member.UserId && r.Reason == "Superseded by the 2027 set");
        var statuses = await BulkSupport.OwnerQueryAsync<string>(T, "SELECT status FROM documents WHERE id = ANY(@ids)", new { ids = ids.ToArray() });
        statuses.ShouldAllBe(s => s == "PendingDelete");
        (await BulkSupport.OwnerQueryAsync<long>(T, "SELECT count(*) FROM audit_events WHERE action = 'approval.requested' AND actor_id = @member AND data->>'documentId' = ANY(@ids)",
            new { member = member.UserId, ids = ids.Select(i => i.ToString()).ToArray() })).Single().ShouldBe(3);

        // Again: the requests are open, so each is skipped rather than opened twice.
        var again = await BulkSupport.WaitAsync(member, await BulkSupport.StartAsync(member, new { action = "requestDelete", documentIds = ids, @params = new { reason = "again" } }));
        again.GetProperty("skipped").GetInt32().ShouldBe(3, again.ToString());
    }
}
