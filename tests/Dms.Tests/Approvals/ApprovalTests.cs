using System.Net;
using System.Net.Http.Json;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Retention;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>
/// The approval suite: the same tests in-process (<see cref="ApprovalTests"/>) and through the local cluster's load
/// balancer (<see cref="ClusterApprovalTests"/>). They use only what <see cref="ApprovalSuiteFixture"/> offers.
/// </summary>
public abstract class ApprovalSuite<TFixture>(TFixture f) where TFixture : ApprovalSuiteFixture
{
    protected TFixture Fixture => f;

    [Fact]
    public async Task An_approved_delete_is_executed_by_the_worker_into_the_trash_and_can_be_restored()
    {
        var documentId = await f.UploadAsync(f.Member);
        var request = await f.RequestDeleteAsync(f.Member, documentId, "Superseded by the 2027 plan");
        request.GetProperty("type").GetString().ShouldBe("Delete");
        request.GetProperty("status").GetString().ShouldBe("Pending");
        request.GetProperty("requestedBy").GetGuid().ShouldBe(f.Member.UserId);
        request.GetProperty("reason").GetString().ShouldBe("Superseded by the 2027 plan");
        request.GetProperty("basedOnVersion").GetInt32().ShouldBe(1);
        var approvalId = request.GetProperty("id").GetGuid();

        var pending = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        pending.GetProperty("status").GetString().ShouldBe("PendingDelete");
        (await f.NotificationsAsync(f.Admin, "approval.requested", approvalId)).Count.ShouldBe(1);
        (await f.NotificationsAsync(f.SecondAdmin, "approval.requested", approvalId)).Count.ShouldBe(1);

        using var approved = await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId, "Fine");
        await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await approved.JsonAsync()).GetProperty("status").GetString().ShouldBe("Approved");
        var executed = await f.WaitForStatusAsync(approvalId, "Executed");
        executed.GetProperty("decidedBy").GetGuid().ShouldNotBe(f.Member.UserId);

        await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        var list = await (await f.Member.Client.GetAsync("/api/v1/documents?limit=200")).JsonAsync();
        list.GetProperty("items").EnumerateArray().ShouldNotContain(d => d.GetProperty("id").GetGuid() == documentId);
        (await f.NotificationsAsync(f.Member, "approval.approved", approvalId)).Count.ShouldBe(1);
        (await f.NotificationsAsync(f.Member, "approval.executed", approvalId)).Count.ShouldBe(1);

        var trash = await (await f.Admin.Client.GetAsync("/api/v1/trash")).JsonAsync();
        trash.GetProperty("items").EnumerateArray().Single(d => d.GetProperty("id").GetGuid() == documentId)
            .GetProperty("deletedBy").GetGuid().ShouldBe(f.Member.UserId);
        await (await f.Member.Client.GetAsync("/api/v1/trash")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");

        // History is kept after deletion.
        var history = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/approvals")).JsonAsync();
        history.GetProperty("items")[0].GetProperty("status").GetString().ShouldBe("Executed");

        using var restored = await f.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/restore", null);
        await restored.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await restored.JsonAsync()).GetProperty("status").GetString().ShouldBe("Active");
        using var again = await f.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/restore", null);
        await again.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document.not_deleted");
        using var content = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false");
        (await content.Content.ReadAsStringAsync()).ShouldBe("version one");
    }

    [Fact]
    public async Task A_replace_changes_nothing_until_approved_then_adds_exactly_one_version()
    {
        var documentId = await f.UploadAsync(f.Member, "old content");
        var before = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        var request = await f.RequestReplaceAsync(f.Member, documentId, "new content");
        request.GetProperty("type").GetString().ShouldBe("Replace");
        request.GetProperty("replacement").GetProperty("size").GetInt64().ShouldBe("new content".Length);
        var approvalId = request.GetProperty("id").GetGuid();

        var pending = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        pending.GetProperty("status").GetString().ShouldBe("PendingReplace");
        pending.GetProperty("title").GetString().ShouldBe(before.GetProperty("title").GetString());
        pending.GetProperty("currentVersion").GetProperty("number").GetInt32().ShouldBe(1);
        using (var stillOld = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false"))
        {
            (await stillOld.Content.ReadAsStringAsync()).ShouldBe("old content");
        }

        await (await ApprovalSuiteFixture.ApproveAsync(f.SecondAdmin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
        var after = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        after.GetProperty("status").GetString().ShouldBe("Active");
        after.GetProperty("currentVersion").GetProperty("number").GetInt32().ShouldBe(2);
        using (var current = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false"))
        {
            (await current.Content.ReadAsStringAsync()).ShouldBe("new content");
        }
        using (var v1 = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?version=1&redirect=false"))
        {
            (await v1.Content.ReadAsStringAsync()).ShouldBe("old content");
        }
        var versions = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/versions")).JsonAsync();
        versions.GetProperty("items").GetArrayLength().ShouldBe(2);
    }

    [Fact]
    public async Task A_replace_can_use_a_direct_upload_session()
    {
        var documentId = await f.UploadAsync(f.Member, "before direct");
        var content = Uploads.Text("after direct upload");
        using var created = await f.Member.Client.PostAsJsonAsync("/api/v1/uploads", new { fileName = "doc.txt", size = content.Length });
        var session = await created.JsonAsync();
        using (var put = await f.SendToUrlAsync(HttpMethod.Put, new Uri(session.GetProperty("url").GetString()!), new ByteArrayContent(content)))
        {
            await put.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var requested = await f.Member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/replace-requests",
            new { uploadId = session.GetProperty("id").GetGuid(), reason = "Direct" });
        await requested.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approvalId = (await requested.JsonAsync()).GetProperty("id").GetGuid();
        await (await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
        using var current = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false");
        (await current.Content.ReadAsStringAsync()).ShouldBe("after direct upload");
    }

    [Fact]
    public async Task A_rejected_replace_needs_a_reason_tells_the_requester_and_removes_the_staged_file()
    {
        var documentId = await f.UploadAsync(f.Member);
        var request = await f.RequestReplaceAsync(f.Member, documentId, "rejected content");
        var approvalId = request.GetProperty("id").GetGuid();

        using var noReason = await f.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/reject", new { reason = " " });
        await noReason.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        using var rejected = await f.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/reject", new { reason = "Numbers are wrong" });
        await rejected.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var body = await rejected.JsonAsync();
        body.GetProperty("status").GetString().ShouldBe("Rejected");
        body.GetProperty("comment").GetString().ShouldBe("Numbers are wrong");

        var notification = (await f.NotificationsAsync(f.Member, "approval.rejected", approvalId)).ShouldHaveSingleItem();
        notification.GetProperty("body").GetString().ShouldBe("Numbers are wrong");
        var document = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("status").GetString().ShouldBe("Active");
        document.GetProperty("currentVersion").GetProperty("number").GetInt32().ShouldBe(1);

        // The staged blob is gone once the discard message has run.
        var prefix = BlobKeys.TenantPrefix(f.TenantId) + documentId.ToString("N");
        for (var i = 0; i < 200 && await f.CountBlobsAsync(prefix) > 1; i++)
        {
            await Task.Delay(50);
        }
        (await f.CountBlobsAsync(prefix)).ShouldBe(1);

        using var late = await ApprovalSuiteFixture.ApproveAsync(f.SecondAdmin, approvalId);
        await late.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.not_pending");
    }

    [Fact]
    public async Task Nobody_decides_their_own_request_and_only_admins_decide()
    {
        var documentId = await f.UploadAsync(f.Admin);
        var approvalId = (await f.RequestDeleteAsync(f.Admin, documentId)).GetProperty("id").GetGuid();
        await (await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.self_decision");
        using var selfReject = await f.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/reject", new { reason = "mine" });
        await selfReject.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.self_decision");

        var memberDoc = await f.UploadAsync(f.Member);
        var memberRequest = (await f.RequestDeleteAsync(f.Member, memberDoc)).GetProperty("id").GetGuid();
        var otherMember = await f.CreateUserAsync("Member");
        await (await ApprovalSuiteFixture.ApproveAsync(otherMember, memberRequest)).ShouldBeProblemAsync(HttpStatusCode.NotFound, "approval.not_found");
        await (await ApprovalSuiteFixture.ApproveAsync(f.Member, memberRequest)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.self_decision");

        await (await ApprovalSuiteFixture.ApproveAsync(f.SecondAdmin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_requester_cancels_others_cannot()
    {
        var documentId = await f.UploadAsync(f.Member);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        using var byAdmin = await f.Admin.Client.PostAsync($"/api/v1/approvals/{approvalId}/cancel", null);
        await byAdmin.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.not_requester");
        using var cancelled = await f.Member.Client.PostAsync($"/api/v1/approvals/{approvalId}/cancel", null);
        await cancelled.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await cancelled.JsonAsync()).GetProperty("status").GetString().ShouldBe("Cancelled");
        var document = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("status").GetString().ShouldBe("Active");
        // A new request is possible again.
        await f.RequestDeleteAsync(f.Member, documentId);
    }

    [Fact]
    public async Task A_second_open_request_is_409_already_pending()
    {
        var documentId = await f.UploadAsync(f.Member);
        await f.RequestDeleteAsync(f.Member, documentId);
        using var second = await f.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "again" });
        await second.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.already_pending");
        using var replace = await f.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests",
            new MultipartFormDataContent { { new ByteArrayContent(Uploads.Text("x")), "file", "doc.txt" }, { new StringContent("why"), "reason" } });
        await replace.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.already_pending");
    }

    [Fact]
    public async Task Approving_against_a_changed_version_is_409_stale()
    {
        var documentId = await f.UploadAsync(f.Member);
        var approvalId = (await f.RequestReplaceAsync(f.Member, documentId, "replacement")).GetProperty("id").GetGuid();
        // The document moved on underneath the request (as a restore from backup or a future feature could do).
        await f.OwnerSqlAsync("UPDATE documents SET current_version = 7 WHERE id = @id", ("id", documentId));
        using var stale = await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId);
        await stale.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.stale");
        var request = await (await f.Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
        request.GetProperty("status").GetString().ShouldBe("Pending");
    }

    [Fact]
    public async Task Legal_hold_blocks_delete_requests_and_approvals_and_purge()
    {
        var documentId = await f.UploadAsync(f.Member);
        using (var hold = await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = true, reason = "Litigation 2026-17" }))
        {
            await hold.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await hold.JsonAsync()).GetProperty("legalHold").GetBoolean().ShouldBeTrue();
        }
        using (var blocked = await f.Member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "cleanup" }))
        {
            await blocked.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document.legal_hold");
        }
        using (var noReason = await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = true }))
        {
            await noReason.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        using (var memberHold = await f.Member.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = false }))
        {
            await memberHold.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
        }

        await (await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = false })).ShouldHaveStatusAsync(HttpStatusCode.OK);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        await (await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = true, reason = "New claim" })).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "document.legal_hold");
    }

    [Fact]
    public async Task An_undecided_request_expires_and_the_document_is_released()
    {
        var documentId = await f.UploadAsync(f.Member);
        var approvalId = (await f.RequestReplaceAsync(f.Member, documentId, "too late")).GetProperty("id").GetGuid();
        await f.OwnerSqlAsync("UPDATE approval_requests SET expires_at = now() - interval '1 minute' WHERE id = @id", ("id", approvalId));

        using var approve = await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId);
        await approve.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.expired");
        await f.WaitForStatusAsync(approvalId, "Expired");
        var document = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("status").GetString().ShouldBe("Active");
        (await f.NotificationsAsync(f.Member, "approval.expired", approvalId)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_message_whose_lease_ran_out_on_its_last_attempt_is_dead_lettered_not_retried_forever()
    {
        // As left by a node killed while handling the final allowed attempt.
        var messageId = Guid.NewGuid();
        await f.OwnerSqlAsync($"""
            INSERT INTO outbox_messages (id, tenant_id, type, payload, status, attempts, locked_by, locked_until)
            VALUES (@id, '{f.TenantId}', '{OutboxTypes.Execute}', jsonb_build_object('approvalId', gen_random_uuid()), 'Processing', 1000, 'dead-node', now() - interval '1 minute')
            """, ("id", messageId));
        string? status = null;
        for (var i = 0; i < 200 && (status = await f.OwnerScalarAsync<string>("SELECT status FROM outbox_messages WHERE id = @id", ("id", messageId))) == "Processing"; i++)
        {
            await Task.Delay(50);
        }
        status.ShouldBe("Dead");
        (await f.OwnerScalarAsync<string>("SELECT last_error FROM outbox_messages WHERE id = @id", ("id", messageId)) ?? "").ShouldContain("lease expired");
        var dead = await (await f.Admin.Client.GetAsync("/api/v1/admin/outbox/dead")).JsonAsync();
        dead.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetGuid()).ShouldContain(messageId);
    }

    [Fact]
    public async Task The_database_itself_refuses_a_second_open_request_for_a_document()
    {
        // Bypasses the application (its row lock would queue the second request first): the partial unique
        // index alone must refuse a second Pending or Approved request, and allow closed ones.
        var documentId = await f.UploadAsync(f.Member);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        const string copy = """
            INSERT INTO approval_requests
            SELECT (jsonb_populate_record(r, jsonb_build_object('id', gen_random_uuid(), 'status', @status))).* FROM approval_requests r WHERE id = @id
            """;
        foreach (var open in new[] { "Pending", "Approved" })
        {
            var refused = await Should.ThrowAsync<Npgsql.PostgresException>(() => f.OwnerSqlAsync(copy, ("id", approvalId), ("status", open)));
            refused.SqlState.ShouldBe("23505");
            refused.ConstraintName.ShouldBe("approval_requests_one_open");
        }
        await f.OwnerSqlAsync(copy, ("id", approvalId), ("status", "Rejected"));
    }

    [Fact]
    public async Task The_queue_lists_all_requests_for_admins_and_own_requests_for_others()
    {
        var documentId = await f.UploadAsync(f.Member);
        var mine = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        var adminDoc = await f.UploadAsync(f.Admin);
        var theirs = (await f.RequestDeleteAsync(f.Admin, adminDoc)).GetProperty("id").GetGuid();

        var adminView = await (await f.SecondAdmin.Client.GetAsync("/api/v1/approvals?status=pending&limit=200")).JsonAsync();
        var adminIds = adminView.GetProperty("items").EnumerateArray().Select(a => a.GetProperty("id").GetGuid()).ToList();
        adminIds.ShouldContain(mine);
        adminIds.ShouldContain(theirs);
        var memberView = await (await f.Member.Client.GetAsync("/api/v1/approvals?type=Delete&limit=200")).JsonAsync();
        var memberIds = memberView.GetProperty("items").EnumerateArray().Select(a => a.GetProperty("id").GetGuid()).ToList();
        memberIds.ShouldContain(mine);
        memberIds.ShouldNotContain(theirs);
        await (await f.Member.Client.GetAsync($"/api/v1/approvals/{theirs}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "approval.not_found");
        await (await f.Member.Client.GetAsync("/api/v1/approvals?status=Bogus")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task Notifications_count_and_mark_read()
    {
        var reader = await f.CreateUserAsync("Admin");
        var documentId = await f.UploadAsync(f.Member);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        var notification = (await f.NotificationsAsync(reader, "approval.requested", approvalId)).ShouldHaveSingleItem();
        var count = await (await reader.Client.GetAsync("/api/v1/notifications/unread-count")).JsonAsync();
        count.GetProperty("count").GetInt64().ShouldBeGreaterThanOrEqualTo(1);

        using var read = await reader.Client.PostAsync($"/api/v1/notifications/{notification.GetProperty("id").GetGuid()}/read", null);
        await read.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await read.JsonAsync()).GetProperty("readAt").ValueKind.ShouldNotBe(System.Text.Json.JsonValueKind.Null);
        await (await f.Member.Client.PostAsync($"/api/v1/notifications/{notification.GetProperty("id").GetGuid()}/read", null))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound, "notification.not_found");

        await (await reader.Client.PostAsync("/api/v1/notifications/read-all", null)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        var after = await (await reader.Client.GetAsync("/api/v1/notifications/unread-count")).JsonAsync();
        after.GetProperty("count").GetInt64().ShouldBe(0);
        var unread = await (await reader.Client.GetAsync("/api/v1/notifications?unread=true")).JsonAsync();
        unread.GetProperty("items").GetArrayLength().ShouldBe(0);
    }
}

/// <summary>
/// The approval suite in-process, plus what needs the app's own services: the retention job run on demand
/// (<see cref="RetentionJobs"/>) and the blob store, so these stay in-process only.
/// </summary>
public sealed class ApprovalTests(ApprovalFixture fixture) : ApprovalSuite<ApprovalFixture>(fixture), IClassFixture<ApprovalFixture>
{
    private ApprovalFixture f => Fixture;

    [Fact]
    public async Task The_periodic_job_expires_requests_nobody_touches()
    {
        var documentId = await f.UploadAsync(f.Member);
        var other = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        await f.OwnerSqlAsync("UPDATE approval_requests SET expires_at = now() - interval '1 minute' WHERE id = @id", ("id", other));
        await RunRetentionAsync();
        await f.WaitForStatusAsync(other, "Expired");
    }

    [Fact]
    public async Task A_deleted_document_is_purged_after_retention_keeping_a_tombstone_and_its_history()
    {
        var documentId = await f.UploadAsync(f.Member, "to be purged");
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        await (await ApprovalFixture.ApproveAsync(f.Admin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");

        var store = f.Tenant.App.Service<IBlobStore>();
        var prefix = BlobKeys.TenantPrefix(f.TenantId) + documentId.ToString("N");
        (await CountBlobsAsync(store, prefix)).ShouldBe(1);
        await RunRetentionAsync();
        (await CountBlobsAsync(store, prefix)).ShouldBe(1, "still within the retention period");

        for (var i = 0; i < 600 && await f.OwnerScalarAsync<string>("SELECT status FROM version_texts WHERE document_id = @id", ("id", documentId)) == "Pending"; i++)
        {
            await Task.Delay(50);
        }
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM version_texts WHERE document_id = @id AND content IS NOT NULL", ("id", documentId))).ShouldBe(1);

        await f.OwnerSqlAsync("UPDATE documents SET deleted_at = now() - interval '31 days' WHERE id = @id", ("id", documentId));
        await RunRetentionAsync();
        for (var i = 0; i < 200 && await CountBlobsAsync(store, prefix) > 0; i++)
        {
            await Task.Delay(50);
        }
        (await CountBlobsAsync(store, prefix)).ShouldBe(0);
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM version_texts WHERE document_id = @id AND content IS NOT NULL", ("id", documentId)))
            .ShouldBe(0, "the text read from a purged file goes with it");
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM document_search WHERE document_id = @id", ("id", documentId))).ShouldBe(0);
        using var restore = await f.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/restore", null);
        await restore.ShouldBeProblemAsync(HttpStatusCode.Gone, "document.purged");
        var history = await (await f.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/approvals")).JsonAsync();
        history.GetProperty("items")[0].GetProperty("id").GetGuid().ShouldBe(approvalId);
    }

    [Fact]
    public async Task A_purge_that_meets_a_legal_hold_waits_and_runs_once_the_hold_is_lifted()
    {
        var documentId = await f.UploadAsync(f.Member, "held in the trash");
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        await (await ApprovalFixture.ApproveAsync(f.Admin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
        await f.OwnerSqlAsync("UPDATE documents SET deleted_at = now() - interval '31 days' WHERE id = @id", ("id", documentId));

        // The race: the purge was scheduled, then a legal hold arrived before the worker ran it.
        await (await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = true, reason = "Claim" }))
            .ShouldHaveStatusAsync(HttpStatusCode.OK);
        var messageId = Guid.NewGuid();
        await f.OwnerSqlAsync($"""
            UPDATE documents SET purge_requested_at = now() WHERE id = @id;
            INSERT INTO outbox_messages (id, tenant_id, type, payload) VALUES (@message, '{f.TenantId}', '{OutboxTypes.Purge}', jsonb_build_object('documentId', @id));
            """, ("id", documentId), ("message", messageId));
        for (var i = 0; i < 200 && await f.OwnerScalarAsync<string>("SELECT status FROM outbox_messages WHERE id = @id", ("id", messageId)) != "Done"; i++)
        {
            await Task.Delay(50);
        }
        var store = f.Tenant.App.Service<IBlobStore>();
        var prefix = BlobKeys.TenantPrefix(f.TenantId) + documentId.ToString("N");
        (await CountBlobsAsync(store, prefix)).ShouldBe(1, "nothing is purged under a legal hold");
        await RunRetentionAsync();
        (await CountBlobsAsync(store, prefix)).ShouldBe(1, "still held");

        await (await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = false }))
            .ShouldHaveStatusAsync(HttpStatusCode.OK);
        await RunRetentionAsync();
        for (var i = 0; i < 200 && await CountBlobsAsync(store, prefix) > 0; i++)
        {
            await Task.Delay(50);
        }
        (await CountBlobsAsync(store, prefix)).ShouldBe(0, "purged once the hold was lifted");
    }

    private async Task RunRetentionAsync()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            if (!(await f.Tenant.App.Service<RetentionJobs>().RunOnceAsync(CancellationToken.None)).Skipped)
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("The retention lock was never free.");
    }

    private static async Task<int> CountBlobsAsync(IBlobStore store, string prefix)
    {
        var count = 0;
        await foreach (var _ in store.ListAsync(prefix, CancellationToken.None))
        {
            count++;
        }
        return count;
    }
}
