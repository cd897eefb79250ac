using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Audit;

/// <summary>The audit trail records what the product promises, can be filtered and exported, and proves it was not altered.</summary>
public sealed class AuditTrailTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private async Task<List<JsonElement>> EventsAsync(string query = "")
    {
        var page = await (await f.Admin.Client.GetAsync($"/api/v1/audit?limit=500{query}")).JsonAsync();
        return page.GetProperty("items").EnumerateArray().ToList();
    }

    [Fact]
    public async Task Governed_actions_leave_events_with_actor_client_and_correlation()
    {
        using (var failed = await f.Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = f.Tenant.Slug, email = f.Member.Email, password = "wrong-password-1" }))
        {
            failed.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        var documentId = await f.UploadAsync(f.Member, "audited");
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{documentId}/content?redirect=false"))
        {
            request.Headers.Add("X-Correlation-Id", "audit-test-42");
            request.Headers.UserAgent.ParseAdd("AuditTest/1.0");
            using var response = await f.Member.Client.SendAsync(request);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        await (await ApprovalFixture.ApproveAsync(f.Admin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
        await (await f.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/restore", null)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await AuditChainWait.ChainedAsync(f.Admin.Client);

        var events = await EventsAsync();
        var actions = events.Select(e => e.GetProperty("action").GetString()).ToList();
        actions.ShouldContain("tenant.created");
        actions.ShouldContain("user.created");
        actions.ShouldContain("auth.login");
        actions.ShouldContain("auth.login_failed");

        var forDocument = await EventsAsync($"&entityId={documentId}");
        // Newest first by chain sequence, so reversed it is the order in which things happened.
        forDocument.Select(e => e.GetProperty("seq").GetInt64()).ShouldBe(forDocument.Select(e => e.GetProperty("seq").GetInt64()).OrderDescending());
        forDocument.Select(e => e.GetProperty("action").GetString()).Reverse().ShouldBe(
            ["document.uploaded", "document.downloaded", "document.restored"]);
        var download = forDocument.Single(e => e.GetProperty("action").GetString() == "document.downloaded");
        download.GetProperty("actorId").GetGuid().ShouldBe(f.Member.UserId);
        download.GetProperty("actorType").GetString().ShouldBe("user");
        download.GetProperty("correlationId").GetString().ShouldBe("audit-test-42");
        download.GetProperty("userAgent").GetString().ShouldBe("AuditTest/1.0");
        download.GetProperty("data").GetProperty("version").GetInt32().ShouldBe(1);

        var forRequest = (await EventsAsync($"&entityId={approvalId}")).Select(e => e.GetProperty("action").GetString()).ToList();
        forRequest.ShouldBe(["approval.executed", "approval.approved", "approval.vote", "approval.requested"]);
        var executed = (await EventsAsync($"&entityId={approvalId}&action=approval.executed")).ShouldHaveSingleItem();
        executed.GetProperty("actorType").GetString().ShouldBe("system");

        (await EventsAsync($"&actor={f.Member.UserId}&action=approval.")).ShouldAllBe(e => e.GetProperty("actorId").GetGuid() == f.Member.UserId);
        (await EventsAsync($"&from={DateTime.UtcNow.AddMinutes(5):O}")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Paging_follows_the_chain_newest_first()
    {
        for (var i = 0; i < 3; i++)
        {
            await f.UploadAsync(f.Member, $"page {i}");
        }
        await AuditChainWait.ChainedAsync(f.Admin.Client);
        var first = await (await f.Admin.Client.GetAsync("/api/v1/audit?limit=2")).JsonAsync();
        var cursor = first.GetProperty("nextCursor").GetString().ShouldNotBeNull();
        var second = await (await f.Admin.Client.GetAsync($"/api/v1/audit?limit=2&cursor={cursor}")).JsonAsync();
        var seqs = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray()).Select(e => e.GetProperty("seq").GetInt64()).ToList();
        seqs.ShouldBe(seqs.OrderByDescending(s => s).ToList());
        seqs.Distinct().Count().ShouldBe(4);
        await (await f.Admin.Client.GetAsync("/api/v1/audit?cursor=nope")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_cursor");
        await (await f.Admin.Client.GetAsync("/api/v1/audit?from=yesterday")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task Export_streams_csv_and_ndjson_of_the_whole_trail()
    {
        await f.UploadAsync(f.Member, "exported");
        await AuditChainWait.ChainedAsync(f.Admin.Client);
        var total = (await EventsAsync()).Count;
        using var ndjson = await f.Admin.Client.GetAsync("/api/v1/audit/export?format=ndjson");
        await ndjson.ShouldHaveStatusAsync(HttpStatusCode.OK);
        ndjson.Content.Headers.ContentType!.MediaType.ShouldBe("application/x-ndjson");
        var lines = (await ndjson.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBeGreaterThanOrEqualTo(total);
        var seqs = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()).ToList();
        seqs.ShouldBe(seqs.Order().ToList());

        using var csv = await f.Admin.Client.GetAsync("/api/v1/audit/export?format=csv&action=document.uploaded");
        await csv.ShouldHaveStatusAsync(HttpStatusCode.OK);
        csv.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        var rows = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        rows[0].ShouldStartWith("seq,occurred_at,actor_type");
        rows.Skip(1).ShouldAllBe(r => r.Contains(",document.uploaded,", StringComparison.Ordinal));
        await (await f.Admin.Client.GetAsync("/api/v1/audit/export?format=xml")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task Only_admins_and_auditors_read_the_trail_and_auditors_read_nothing_else()
    {
        await (await f.Member.Client.GetAsync("/api/v1/audit")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
        var auditor = await f.Tenant.CreateUserAsync("Auditor");
        await (await auditor.Client.GetAsync("/api/v1/audit")).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await auditor.Client.GetAsync("/api/v1/audit/verify")).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await auditor.Client.GetAsync("/api/v1/documents")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
    }

    [Fact]
    public async Task The_runtime_role_can_append_but_never_change_or_remove_events()
    {
        await using var conn = new NpgsqlConnection(f.Tenant.App.AppConnectionString);
        await conn.OpenAsync();
        // Appending is audit_append's job alone: a direct insert or a moved head could chain a forgery (ADR 0012).
        var writes = new[]
        {
            "UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events",
            $"""
            INSERT INTO audit_events (id, tenant_id, seq, occurred_at, actor_type, actor_label, action, entity_type, prev_hash, hash)
            SELECT gen_random_uuid(), tenant_id, last_seq + 1, now(), 'system', 'forger', 'forged', 'x', last_hash, 'x' FROM audit_heads WHERE tenant_id = '{f.Tenant.Id}'
            """,
            "UPDATE audit_heads SET last_seq = last_seq + 1",
            $"INSERT INTO audit_heads (tenant_id, last_seq, last_hash) VALUES ('{f.Tenant.Id}', 0, 'x') ON CONFLICT (tenant_id) DO UPDATE SET last_seq = 0",
        };
        foreach (var sql in writes)
        {
            await using var tx = await conn.BeginTransactionAsync();
            await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{f.Tenant.Id}', true)", conn, tx))
            {
                await set.ExecuteNonQueryAsync();
            }
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            var ex = await Should.ThrowAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync());
            ex.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege, sql);
        }
    }
}

/// <summary>Tampering is visible: verify is valid on untouched data and names the first event an owner edited.</summary>
public sealed class AuditVerifyTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task Verify_is_valid_until_the_owner_edits_history_then_names_the_first_broken_event()
    {
        var tenant = fixture.Tenant;
        for (var i = 0; i < 3; i++)
        {
            using var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"v{i}.txt", Uploads.Text($"v{i}")));
            upload.EnsureSuccessStatusCode();
        }
        var verify = await AuditChainWait.ChainedAsync(tenant);
        verify.GetProperty("valid").GetBoolean().ShouldBeTrue();
        var checkedCount = verify.GetProperty("checked").GetInt64();
        checkedCount.ShouldBeGreaterThanOrEqualTo(4);

        var events = (await (await tenant.Admin.Client.GetAsync("/api/v1/audit?action=document.uploaded")).JsonAsync()).GetProperty("items").EnumerateArray().ToList();
        var victim = events[^1]; // the oldest upload
        await OwnerAsync(tenant, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            $"UPDATE audit_events SET data = jsonb_set(data, '{{title}}', '\"innocent\"') WHERE id = '{victim.GetProperty("id").GetGuid()}'",
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only");

        var broken = await (await tenant.Admin.Client.GetAsync("/api/v1/audit/verify")).JsonAsync();
        broken.GetProperty("valid").GetBoolean().ShouldBeFalse();
        broken.GetProperty("firstBrokenEventId").GetGuid().ShouldBe(victim.GetProperty("id").GetGuid());
        broken.GetProperty("checked").GetInt64().ShouldBe(victim.GetProperty("seq").GetInt64() - 1);
    }

    private static async Task OwnerAsync(TestTenant tenant, params string[] statements)
    {
        await using var conn = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant.Id}', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        foreach (var sql in statements)
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            var affected = await cmd.ExecuteNonQueryAsync();
            if (sql.StartsWith("UPDATE", StringComparison.Ordinal))
            {
                affected.ShouldBe(1, "the tampering edit must hit exactly one event");
            }
        }
        await tx.CommitAsync();
    }
}
