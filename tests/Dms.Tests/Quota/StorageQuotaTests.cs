using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dms.Modules.Approvals.Retention;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Reconciliation;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Quota;

/// <summary>
/// The storage quota of a plan, held exactly (issue 17 item 3, ADR 0032): uploads reserve before they store, under the
/// tenant's counter row lock, and settle or release at the end; the counter (base row plus deltas, ADR 0039) always equals
/// the rows it sums, and only reservations lock it. Every test makes a tenant of its own, as each needs its own quota and
/// counter.
/// </summary>
public sealed class StorageQuotaTests(ITestOutputHelper output)
{
    private const int FileSize = 64 * 1024;

    [Fact]
    public async Task Two_hundred_parallel_uploads_against_a_quota_for_150_store_exactly_150_and_purging_gives_the_bytes_back()
    {
        var tenant = await NewTenantAsync();
        var forms = Enumerable.Range(0, 200).Select(i => Form($"q-{i:000}.txt", TextFile(FileSize))).ToList();
        // Each upload reserves its request's length (the file plus the multipart framing around it) while its bytes
        // arrive, and the file's size once stored. A quota of exactly 150 request lengths fits 150 uploads however they
        // interleave; a 151st never fits, as 150 stored or in-flight files take at least 150 file sizes, and 150 files
        // plus one request are more than 150 requests as long as 149 framings are smaller than one file.
        var length = forms[0].Headers.ContentLength!.Value;
        forms.ShouldAllBe(f => f.Headers.ContentLength == length);
        (149 * (length - FileSize)).ShouldBeLessThan(FileSize);
        await tenant.App.GivePlanAsync(tenant, storageBytes: 150 * length);

        var clock = Stopwatch.StartNew();
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var uploads = forms.Select(form => Task.Run(async () =>
        {
            await go.Task;
            using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", form);
            return (response.StatusCode, Code: response.StatusCode == HttpStatusCode.Created ? null : (await response.JsonAsync()).GetProperty("code").GetString());
        })).ToList();
        go.SetResult();
        var answers = await Task.WhenAll(uploads);
        output.WriteLine($"200 parallel uploads: {clock.ElapsedMilliseconds} ms");

        var tally = string.Join(", ", answers.GroupBy(r => $"{(int)r.StatusCode} {r.Code}").Select(g => $"{g.Count()} × {g.Key}"));
        output.WriteLine($"answers: {tally}");
        answers.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(150, $"answers: {tally}");
        answers.Where(r => r.StatusCode != HttpStatusCode.Created).ShouldAllBe(r => r.StatusCode == HttpStatusCode.RequestEntityTooLarge && r.Code == "plan.storage_exhausted");
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        counter.Used.ShouldBe(150L * FileSize);
        counter.Reserved.ShouldBe(0);

        using (var refused = await tenant.Admin.Client.PostAsync("/api/v1/documents", Form("one-more.txt", TextFile(FileSize))))
        {
            var problem = await refused.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "plan.storage_exhausted");
            problem.GetProperty("detail").GetString()!.ShouldContain("left of");
        }

        // Deleted documents keep counting until they are purged; purging gives their bytes back.
        await SetPolicyAsync(tenant, new { operations = new { delete = new { mode = "direct" } } });
        var listed = await (await tenant.Admin.Client.GetAsync("/api/v1/documents?limit=3")).JsonAsync();
        var doomed = listed.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()).ToArray();
        doomed.Length.ShouldBe(3);
        foreach (var id in doomed)
        {
            using var deleted = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{id}/delete-requests", new { reason = "room for more" });
            await deleted.ShouldHaveStatusAsync(HttpStatusCode.Created);
            (await deleted.JsonAsync()).GetProperty("status").GetString().ShouldBe("Executed");
        }
        (await CounterAsync(tenant)).Used.ShouldBe(150L * FileSize, "the trash counts until it is purged");
        using (var stillFull = await tenant.Admin.Client.PostAsync("/api/v1/documents", Form("trash-counts.txt", TextFile(FileSize))))
        {
            await stillFull.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "plan.storage_exhausted");
        }

        await PurgeAsync(tenant, doomed);
        counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        counter.Used.ShouldBe(147L * FileSize);
        for (var i = 0; i < 3; i++)
        {
            using var fits = await tenant.Admin.Client.PostAsync("/api/v1/documents", Form($"after-purge-{i}.txt", TextFile(FileSize)));
            await fits.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        (await CounterAsync(tenant)).Used.ShouldBe(150L * FileSize);
        output.WriteLine($"whole test: {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task A_direct_upload_session_over_the_quota_is_refused_at_creation_and_an_abort_gives_its_reservation_back()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 100_000);

        using (var tooBig = await CreateSessionAsync(tenant, 100_001))
        {
            var problem = await tooBig.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "plan.storage_exhausted");
            problem.GetProperty("detail").GetString()!.ShouldContain("97.7 KB left of 97.7 KB");
        }
        using var first = await CreateSessionAsync(tenant, 60_000);
        await first.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var firstId = (await first.JsonAsync()).GetProperty("id").GetGuid();
        (await CounterAsync(tenant)).Reserved.ShouldBe(60_000);

        using (var second = await CreateSessionAsync(tenant, 60_000))
        {
            await second.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "plan.storage_exhausted");
        }
        using (var aborted = await tenant.Admin.Client.DeleteAsync($"/api/v1/uploads/{firstId}"))
        {
            aborted.IsSuccessStatusCode.ShouldBeTrue();
        }
        (await CounterAsync(tenant)).Reserved.ShouldBe(0);
        using var third = await CreateSessionAsync(tenant, 60_000);
        await third.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var session = await third.JsonAsync();

        // Completing it turns the reservation into used bytes, in one transaction.
        var content = TextFile(60_000);
        using (var put = await tenant.App.SendToUrlAsync(HttpMethod.Put, new Uri(session.GetProperty("url").GetString()!), new ByteArrayContent(content)))
        {
            await put.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var completed = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}/complete", new { title = "Direct" }))
        {
            await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((60_000L, 0L));
    }

    [Fact]
    public async Task A_streamed_upload_cut_short_gives_its_reservation_back()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 1_000_000);
        var body = Encoding.UTF8.GetBytes("--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.txt\"\r\n\r\n" + new string('x', 50_000));
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=XBOUNDARY");
        using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", content);
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.malformed_multipart");

        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((0L, 0L));
        (await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM upload_sessions WHERE status = 'Failed' AND reserved_bytes = 0")).ShouldBe(1);
    }

    [Fact]
    public async Task The_reconciler_releases_the_reservation_of_an_expired_session_and_of_a_request_that_ended_without_releasing()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 1_000_000);
        using var created = await CreateSessionAsync(tenant, 50_000);
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var sessionId = (await created.JsonAsync()).GetProperty("id").GetGuid();
        (await CounterAsync(tenant)).Reserved.ShouldBe(50_000);

        await OwnerSqlAsync(tenant, "UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE id = @id", ("id", sessionId));
        (await CounterAsync(tenant)).Reserved.ShouldBe(50_000, "an expired session holds its bytes until it is swept");
        await ReconcileAsync(tenant);
        (await OwnerScalarAsync<string>(tenant, "SELECT status FROM upload_sessions WHERE id = @id", ("id", sessionId))).ShouldBe("Expired");
        (await CounterAsync(tenant)).Reserved.ShouldBe(0);

        // A replace request that ended without giving its staged bytes back (as if that step had been missed).
        var member = await tenant.CreateUserAsync("Member");
        var documentId = await UploadAsync(member, "original.txt", TextFile(10_000));
        var approvalId = (await RequestReplaceAsync(member, documentId, TextFile(20_000))).GetProperty("id").GetGuid();
        (await CounterAsync(tenant)).Reserved.ShouldBe(20_000);
        await OwnerSqlAsync(tenant, "UPDATE approval_requests SET status = 'Cancelled' WHERE id = @id", ("id", approvalId));
        await ReconcileAsync(tenant);
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((10_000L, 0L));
    }

    /// <summary>
    /// Written when an upload committed in the order "its session's row, then the tenant's counter row" (the version
    /// insert's trigger, ADR 0032). Since ADR 0039 the trigger appends a delta instead, but the reconciler's fold locks the
    /// counter's base row, so the order still matters: the reconciler expires many sessions in one statement and folds
    /// in a transaction of its own, never holding the base row while it waits for a session's row. A reconciler taking
    /// the counter first deadlocks with a transaction like this one (40P01, seen when this test was written against that
    /// change).
    /// </summary>
    [Fact]
    public async Task Expiring_sessions_never_deadlocks_with_an_upload_committing_one_of_them()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 1_000_000);
        var ids = new List<Guid>();
        foreach (var size in new[] { 10_000, 20_000 })
        {
            using var created = await CreateSessionAsync(tenant, size);
            await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
            ids.Add((await created.JsonAsync()).GetProperty("id").GetGuid());
        }
        await OwnerSqlAsync(tenant, "UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE id = ANY(@ids)", ("ids", ids.ToArray()));

        // The session an UPDATE over both reaches second (equal index keys are kept in the rows' physical order).
        var second = await OwnerScalarAsync<Guid>(tenant, "SELECT id FROM upload_sessions WHERE id = ANY(@ids) ORDER BY ctid DESC LIMIT 1", ("ids", ids.ToArray()));

        // The committing upload: holds that session's row...
        await using var upload = await OwnerAsync(tenant);
        await using var tx = await upload.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT pg_current_xact_id()::text FROM upload_sessions WHERE id = @id FOR UPDATE", upload, tx))
        {
            hold.Parameters.AddWithValue("id", second);
            var xid = (string)(await hold.ExecuteScalarAsync())!;
            var reconcile = Task.Run(() => ReconcileAsync(tenant));
            // ...until the reconciler queues behind it,
            await WaitForAsync(async () => await OwnerScalarAsync<long>(tenant,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = @xid", ("xid", xid)) > 0,
                "the reconciler never waited for the session's row");
            // ...then takes the counter, as the version insert's trigger does. A deadlock fails one side after deadlock_timeout.
            await using (var counter = new NpgsqlCommand("UPDATE storage_usage SET used_bytes = used_bytes WHERE tenant_id = @t", upload, tx) { CommandTimeout = 30 })
            {
                counter.Parameters.AddWithValue("t", tenant.Id);
                await counter.ExecuteNonQueryAsync();
            }
            await tx.CommitAsync();
            await reconcile;
        }
        (await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM upload_sessions WHERE id = ANY(@ids) AND status = 'Expired'", ("ids", ids.ToArray()))).ShouldBe(2);
        var after = await CounterAsync(tenant);
        after.ShouldBeConsistent();
        after.Reserved.ShouldBe(0);
    }

    /// <summary>
    /// The point of ADR 0039: a transaction that moved the counter (as an upload's last transaction does from its version
    /// insert's trigger, early on) and has not committed yet holds nothing another upload waits for. With the counter
    /// updated in place (ADR 0032) the upload below queued behind it until it ended.
    /// </summary>
    [Fact]
    public async Task An_upload_is_not_held_up_by_a_transaction_that_moved_the_counter_and_has_not_committed()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 1_000_000);
        await UploadAsync(tenant.Admin, "first.txt", TextFile(10_000));

        await using var settling = await OwnerAsync(tenant);
        await using var tx = await settling.BeginTransactionAsync();
        await using (var add = new NpgsqlCommand("SELECT storage_usage_add(@t, 20000, 0)", settling, tx))
        {
            add.Parameters.AddWithValue("t", tenant.Id);
            await add.ExecuteNonQueryAsync();
        }
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var upload = tenant.Admin.Client.PostAsync("/api/v1/documents", Form("meanwhile.txt", TextFile(10_000)), timeout.Token);
            var finished = await Task.WhenAny(upload, Task.Delay(TimeSpan.FromSeconds(30)));
            (finished == upload).ShouldBeTrue("the upload waited 30 s for the open transaction's counter change");
            using var response = await upload;
            await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        await tx.RollbackAsync();
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((20_000L, 0L));
    }

    [Fact]
    public async Task Deltas_are_folded_into_the_base_row_by_the_reconciler_and_by_a_reservation_and_a_negative_sum_fails_the_fold()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 1_000_000);
        await UploadAsync(tenant.Admin, "one.txt", TextFile(10_000));
        (await DeltasAsync(tenant)).ShouldBeGreaterThan(0, "the triggers append deltas");
        (await BaseRowAsync(tenant)).ShouldBe((0L, 0L), "nothing folded yet");

        // A tenant that piled up deltas (zero-sum here, as settled uploads are) has them folded by the reconciler.
        await PileUpAsync(tenant, StorageUsage.FoldAt);
        await ReconcileAsync(tenant);
        (await DeltasAsync(tenant)).ShouldBe(0);
        (await BaseRowAsync(tenant)).ShouldBe((10_000L, 0L));
        (await CounterAsync(tenant)).ShouldBeConsistent();

        // ...and by the next reservation, which holds the base row anyway.
        await PileUpAsync(tenant, StorageUsage.FoldAt);
        await UploadAsync(tenant.Admin, "two.txt", TextFile(10_000));
        (await DeltasAsync(tenant)).ShouldBeLessThan(10, "only the deltas of the upload's steps after its reservation");
        (await BaseRowAsync(tenant)).Used.ShouldBe(10_000L);
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((20_000L, 0L));

        // A counting bug (bytes taken away that were never counted) fails the fold instead of being folded in.
        await OwnerSqlAsync(tenant, "INSERT INTO storage_usage_deltas (tenant_id, used_delta, reserved_delta) VALUES (@t, -1000000, 0)", ("t", tenant.Id));
        var before = await DeltasAsync(tenant);
        var failed = await Should.ThrowAsync<PostgresException>(() => OwnerScalarAsync<long>(tenant, "SELECT storage_usage_fold(@t)", ("t", tenant.Id)));
        failed.SqlState.ShouldBe(PostgresErrorCodes.CheckViolation);
        (await DeltasAsync(tenant)).ShouldBe(before, "the failed fold moved nothing");
        using (var refused = await tenant.Admin.Client.GetAsync("/api/v1/tenant/usage"))
        {
            refused.IsSuccessStatusCode.ShouldBeFalse("a negative counter is not shown as a usage");
        }
        await OwnerSqlAsync(tenant, "DELETE FROM storage_usage_deltas WHERE tenant_id = @t AND used_delta = -1000000", ("t", tenant.Id));
        (await CounterAsync(tenant)).ShouldBeConsistent();
    }

    [Fact]
    public async Task Staged_replacement_bytes_count_until_the_request_is_rejected_or_become_used_when_it_is_carried_out()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, storageBytes: 100_000);
        var member = await tenant.CreateUserAsync("Member");
        var documentId = await UploadAsync(member, "report.txt", TextFile(30_000));

        var rejectedId = (await RequestReplaceAsync(member, documentId, TextFile(40_000))).GetProperty("id").GetGuid();
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((30_000L, 40_000L), "the staged file holds its size, not its request's length");
        using (var noRoom = await member.Client.PostAsync("/api/v1/documents", Form("no-room.txt", TextFile(40_000))))
        {
            await noRoom.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "plan.storage_exhausted");
        }
        using (var rejected = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{rejectedId}/reject", new { reason = "no" }))
        {
            await rejected.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((30_000L, 0L));

        var approvedId = (await RequestReplaceAsync(member, documentId, TextFile(45_000))).GetProperty("id").GetGuid();
        using (var approved = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvedId}/approve", new { comment = "ok" }))
        {
            await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        await WaitForAsync(async () => (await CounterAsync(tenant)).Used == 75_000, "the replacement becomes a version");
        counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        counter.Reserved.ShouldBe(0);
    }

    [Fact]
    public async Task A_file_over_the_plans_largest_file_is_413_naming_the_plans_limit_streamed_and_direct()
    {
        var tenant = await NewTenantAsync();
        await tenant.App.GivePlanAsync(tenant, maxFileBytes: 10_000);

        using (var streamed = await tenant.Admin.Client.PostAsync("/api/v1/documents", Form("big.txt", TextFile(10_001))))
        {
            var problem = await streamed.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "document.too_large");
            problem.GetProperty("title").GetString()!.ShouldContain("plan's limit of 9.8 KB (10000 bytes)");
        }
        using (var direct = await CreateSessionAsync(tenant, 10_001))
        {
            var problem = await direct.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "document.too_large");
            problem.GetProperty("title").GetString()!.ShouldContain("10000 bytes");
        }
        // Sent without a Content-Length, the file is measured as it streams and refused at the limit.
        var chunked = Form("chunked.txt", TextFile(20_000));
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/documents") { Content = new ChunkedContent(chunked) })
        using (var response = await tenant.Admin.Client.SendAsync(request))
        {
            await response.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "document.too_large");
        }
        using var fits = await tenant.Admin.Client.PostAsync("/api/v1/documents", Form("fits.txt", TextFile(10_000)));
        await fits.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var counter = await CounterAsync(tenant);
        counter.ShouldBeConsistent();
        (counter.Used, counter.Reserved).ShouldBe((10_000L, 0L), "no limit on storage, yet the counter is kept");
    }

    [Fact]
    public async Task The_upload_area_shows_the_space_left_and_the_trash_says_deleted_documents_count_until_purged()
    {
        var tenant = await NewTenantAsync();
        var ui = await tenant.SignInToUiAsync(tenant.Admin);
        var unlimited = await ui.GetStringAsync("/documents");
        unlimited.ShouldNotContain("data-testid=\"storage-left\"", Case.Sensitive, "no limit, nothing to count down");
        (await ui.GetStringAsync("/admin/trash")).ShouldNotContain("count against your storage");

        await tenant.App.GivePlanAsync(tenant, storageBytes: 1024L * 1024 * 1024);
        await UploadAsync(tenant.Admin, "some.txt", TextFile(100_000));
        var limited = await ui.GetStringAsync("/documents");
        limited.ShouldContain("1023.9 MB of 1 GB left");
        var trash = await ui.GetStringAsync("/admin/trash");
        trash.ShouldContain("Deleted documents count against your storage until they are purged: 97.7 KB of 1 GB used.");
    }

    // --- helpers ---

    private static async Task<TestTenant> NewTenantAsync() => await (await DmsApp.GetAsync()).CreateTenantAsync();

    private static byte[] TextFile(int size)
    {
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)('a' + (bytes[i] % 26));
        }
        return bytes;
    }

    private static MultipartFormDataContent Form(string fileName, byte[] content)
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
        form.Add(file, "file", fileName);
        return form;
    }

    private static Task<HttpResponseMessage> CreateSessionAsync(TestTenant tenant, long size) =>
        tenant.Admin.Client.PostAsJsonAsync("/api/v1/uploads", new { fileName = "direct.txt", size, contentType = "text/plain" });

    private static async Task<Guid> UploadAsync(SignedIn who, string fileName, byte[] content)
    {
        using var response = await who.Client.PostAsync("/api/v1/documents", Form(fileName, content));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> RequestReplaceAsync(SignedIn who, Guid documentId, byte[] content)
    {
        var form = Form("replacement.txt", content);
        form.Add(new StringContent("Corrected figures"), "reason");
        using var response = await who.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests", form);
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    private static async Task SetPolicyAsync(TestTenant tenant, object policy)
    {
        using var response = await tenant.Admin.Client.PutAsJsonAsync($"/api/v1/workspaces/{tenant.DefaultWorkspaceId}/policy", policy);
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    /// <summary>Purges <paramref name="documents"/> (already deleted) as the retention job does once their time is up.</summary>
    private static async Task PurgeAsync(TestTenant tenant, Guid[] documents)
    {
        await OwnerSqlAsync(tenant, "UPDATE documents SET deleted_at = now() - interval '400 days' WHERE id = ANY(@ids)", ("ids", documents));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM documents WHERE id = ANY(@ids) AND status <> 'Purged'", ("ids", documents)) > 0)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the purge did not run");
            // Another test (or the app's own timer) may hold the single-runner lock for a moment; the purge itself is an outbox message.
            await tenant.App.Service<RetentionJobs>().RunOnceAsync(CancellationToken.None);
            await Task.Delay(100);
        }
    }

    private static async Task ReconcileAsync(TestTenant tenant)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await tenant.App.Service<StorageReconciler>().RunOnceAsync(null, CancellationToken.None)).Skipped)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the reconciliation lock was never free");
            await Task.Delay(50);
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, what);
            await Task.Delay(100);
        }
    }

    /// <summary>The tenant's counter (base row plus deltas) and, next to it, the sums it must equal.</summary>
    internal sealed record Counter(long Used, long Reserved, long VersionBytes, long SessionBytes)
    {
        public void ShouldBeConsistent()
        {
            Used.ShouldBe(VersionBytes, "used bytes equal the sizes of the unpurged versions");
            Reserved.ShouldBe(SessionBytes, "reserved bytes equal the sessions' reservations");
        }
    }

    private static Task<long> DeltasAsync(TestTenant tenant) =>
        OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM storage_usage_deltas WHERE tenant_id = @t", ("t", tenant.Id));

    private static async Task<(long Used, long Reserved)> BaseRowAsync(TestTenant tenant) =>
        (await OwnerScalarAsync<long>(tenant, "SELECT coalesce((SELECT used_bytes FROM storage_usage WHERE tenant_id = @t), 0)", ("t", tenant.Id)),
         await OwnerScalarAsync<long>(tenant, "SELECT coalesce((SELECT reserved_bytes FROM storage_usage WHERE tenant_id = @t), 0)", ("t", tenant.Id)));

    /// <summary>Appends <paramref name="count"/> deltas that sum to nothing (pairs of +1 and -1 used byte), as a busy tenant's settled uploads do.</summary>
    private static Task PileUpAsync(TestTenant tenant, int count) =>
        OwnerSqlAsync(tenant, """
            INSERT INTO storage_usage_deltas (tenant_id, used_delta, reserved_delta)
            SELECT @t, CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END, 0 FROM generate_series(1, @n) i
            """, ("t", tenant.Id), ("n", count + count % 2));

    private static async Task<Counter> CounterAsync(TestTenant tenant)
    {
        await using var conn = await OwnerAsync(tenant);
        await using var cmd = new NpgsqlCommand("""
            SELECT coalesce((SELECT used_bytes FROM storage_usage WHERE tenant_id = @t), 0)
                     + (SELECT coalesce(sum(used_delta), 0)::bigint FROM storage_usage_deltas WHERE tenant_id = @t),
                   coalesce((SELECT reserved_bytes FROM storage_usage WHERE tenant_id = @t), 0)
                     + (SELECT coalesce(sum(reserved_delta), 0)::bigint FROM storage_usage_deltas WHERE tenant_id = @t),
                   (SELECT coalesce(sum(v.size), 0)::bigint FROM document_versions v JOIN documents d ON d.tenant_id = v.tenant_id AND d.id = v.document_id
                    WHERE v.tenant_id = @t AND d.status <> 'Purged'),
                   (SELECT coalesce(sum(reserved_bytes), 0)::bigint FROM upload_sessions WHERE tenant_id = @t)
            """, conn);
        cmd.Parameters.AddWithValue("t", tenant.Id);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return new Counter(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    private static async Task<NpgsqlConnection> OwnerAsync(TestTenant tenant)
    {
        var conn = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant.Id}', false)", conn);
        await set.ExecuteNonQueryAsync();
        return conn;
    }

    private static async Task<T> OwnerScalarAsync<T>(TestTenant tenant, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = await OwnerAsync(tenant);
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task OwnerSqlAsync(TestTenant tenant, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = await OwnerAsync(tenant);
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Sends another content without a Content-Length (chunked), as a client streaming a file of unknown size does.</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly HttpContent _inner;

        public ChunkedContent(HttpContent inner)
        {
            _inner = inner;
            Headers.ContentType = inner.Headers.ContentType;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }
            base.Dispose(disposing);
        }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => _inner.CopyToAsync(stream);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
