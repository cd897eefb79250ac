using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>
/// Storage goes away (its folder disappears, as an unmounted volume does) while approved replacements wait
/// to be executed: the outbox retries with backoff, nothing is half-applied, execution completes once storage
/// is back; past MaxAttempts the message is dead, and replaying it works.
/// </summary>
public sealed class StorageOutageTests : IAsyncLifetime
{
    private DmsApp _app = null!;
    private TestTenant _tenant = null!;
    private SignedIn _member = null!;

    public Task InitializeAsync() => Task.CompletedTask;

    // Each test picks its attempt budget: the retry test must not reach the dead letter while a loaded
    // machine takes a second between seeing the second attempt and bringing storage back (backoff is 100 ms).
    private async Task StartAsync(int maxAttempts)
    {
        _app = await DmsApp.CreateIsolatedAsync($"outage_{Guid.NewGuid():N}"[..20], new Dictionary<string, string> { ["Dms:Outbox:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        _tenant = await _app.CreateTenantAsync();
        _member = await _tenant.CreateUserAsync("Member");
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            RestoreStorage();
            await _app.DisposeAsync();
        }
    }

    private string Away => _app.BlobRoot + ".away";

    private void BreakStorage() => Directory.Move(_app.BlobRoot, Away);

    private void RestoreStorage()
    {
        if (Directory.Exists(Away))
        {
            Directory.Move(Away, _app.BlobRoot);
        }
    }

    [Fact]
    public async Task Executions_retry_while_storage_is_down_and_complete_when_it_returns()
    {
        await StartAsync(maxAttempts: 1000);
        var (documentId, approvalId) = await ApprovedReplaceWhileStorageIsDownAsync();
        using (var ready = await _app.CreateClient().GetAsync("/health/ready"))
        {
            ready.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        }

        var message = await WaitForMessageAsync(approvalId, m => m.Attempts >= 2 && m.Status == "Pending");
        message.Status.ShouldBe("Pending");
        message.LastError.ShouldNotBeNull().ShouldContain("Storage was unavailable");
        message.AvailableAt.ShouldBeGreaterThan(message.Now, "the next attempt waits for its backoff");
        (await StatusAsync(approvalId)).ShouldBe("Approved");
        (await VersionCountAsync(documentId)).ShouldBe(1, "nothing is half-applied");

        RestoreStorage();
        await WaitForStatusAsync(approvalId, "Executed");
        (await VersionCountAsync(documentId)).ShouldBe(2);
        using var content = await _member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false");
        (await content.Content.ReadAsStringAsync()).ShouldBe("replacement");
    }

    [Fact]
    public async Task After_max_attempts_the_message_is_dead_and_a_replay_executes_it()
    {
        await StartAsync(maxAttempts: 4);
        var (documentId, approvalId) = await ApprovedReplaceWhileStorageIsDownAsync();
        var dead = await WaitForMessageAsync(approvalId, m => m.Status == "Dead");
        dead.Attempts.ShouldBe(4);
        (await StatusAsync(approvalId)).ShouldBe("Approved");

        var list = await (await _tenant.Admin.Client.GetAsync("/api/v1/admin/outbox/dead")).JsonAsync();
        list.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetGuid()).ShouldContain(dead.Id);
        await (await _member.Client.GetAsync("/api/v1/admin/outbox/dead")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");

        RestoreStorage();
        using var replay = await _tenant.Admin.Client.PostAsync($"/api/v1/admin/outbox/{dead.Id}/replay", null);
        await replay.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
        await WaitForStatusAsync(approvalId, "Executed");
        (await VersionCountAsync(documentId)).ShouldBe(2);
        using var again = await _tenant.Admin.Client.PostAsync($"/api/v1/admin/outbox/{dead.Id}/replay", null);
        await again.ShouldBeProblemAsync(HttpStatusCode.NotFound, "outbox_message.not_found");
    }

    [Fact]
    public async Task A_dead_execution_can_be_given_up_the_document_is_active_again_and_the_requester_is_told()
    {
        await StartAsync(maxAttempts: 4);
        var (documentId, approvalId) = await ApprovedReplaceWhileStorageIsDownAsync();
        using (var early = await _tenant.Admin.Client.PostAsync($"/api/v1/approvals/{approvalId}/give-up", null))
        {
            await early.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.executing");
        }
        var dead = await WaitForMessageAsync(approvalId, m => m.Status == "Dead");
        (await DocumentStatusAsync(documentId)).ShouldBe("PendingReplace", "stuck until someone acts");
        await (await _member.Client.PostAsync($"/api/v1/approvals/{approvalId}/give-up", null)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");

        RestoreStorage();
        using var gaveUp = await _tenant.Admin.Client.PostAsync($"/api/v1/approvals/{approvalId}/give-up", null);
        await gaveUp.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var request = await gaveUp.JsonAsync();
        request.GetProperty("status").GetString().ShouldBe("Failed");
        request.GetProperty("failure").GetString().ShouldNotBeNull().ShouldContain("Given up");
        (await DocumentStatusAsync(documentId)).ShouldBe("Active");
        (await VersionCountAsync(documentId)).ShouldBe(1);

        // Settled: neither listed as dead nor replayable, and the request cannot be given up twice.
        var list = await (await _tenant.Admin.Client.GetAsync("/api/v1/admin/outbox/dead")).JsonAsync();
        list.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("id").GetGuid()).ShouldNotContain(dead.Id);
        await (await _tenant.Admin.Client.PostAsync($"/api/v1/admin/outbox/{dead.Id}/replay", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound, "outbox_message.not_found");
        await (await _tenant.Admin.Client.PostAsync($"/api/v1/approvals/{approvalId}/give-up", null)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.not_approved");

        // The requester is told, the staged replacement is discarded through the outbox, and it is audited.
        var told = false;
        var stagedLeft = -1;
        for (var i = 0; i < 200 && !(told && stagedLeft == 0); i++)
        {
            var notes = await (await _member.Client.GetAsync("/api/v1/notifications")).JsonAsync();
            told = notes.GetProperty("items").EnumerateArray().Any(n => n.GetProperty("kind").GetString() == "approval.failed");
            stagedLeft = Directory.EnumerateFiles(_app.BlobRoot, "*", SearchOption.AllDirectories).Count(f => !f.Contains(".multipart", StringComparison.Ordinal) && !f.Contains("audit-checkpoints", StringComparison.Ordinal));
            stagedLeft -= 1; // the original version stays
            await Task.Delay(50);
        }
        told.ShouldBeTrue();
        stagedLeft.ShouldBe(0);
        var audit = await (await _tenant.Admin.Client.GetAsync("/api/v1/audit")).JsonAsync();
        audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ShouldContain("approval.given_up");
    }

    private async Task<string> DocumentStatusAsync(Guid documentId) =>
        (await (await _member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync()).GetProperty("status").GetString()!;

    private async Task<(Guid DocumentId, Guid ApprovalId)> ApprovedReplaceWhileStorageIsDownAsync()
    {
        using var upload = await _member.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text("original")));
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        var form = new MultipartFormDataContent { { new ByteArrayContent(Uploads.Text("replacement")), "file", "doc.txt" }, { new StringContent("update"), "reason" } };
        using var requested = await _member.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests", form);
        await requested.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approvalId = (await requested.JsonAsync()).GetProperty("id").GetGuid();

        BreakStorage();
        using var approved = await _tenant.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" });
        await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (documentId, approvalId);
    }

    private sealed record MessageState(Guid Id, string Status, int Attempts, string? LastError, DateTime AvailableAt, DateTime Now);

    private async Task<MessageState> WaitForMessageAsync(Guid approvalId, Func<MessageState, bool> condition)
    {
        MessageState? state = null;
        for (var i = 0; i < 600; i++)
        {
            await using var conn = new NpgsqlConnection(_app.OwnerConnectionString);
            await conn.OpenAsync();
            await using var tx = await conn.BeginTransactionAsync();
            await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{_tenant.Id}', true)", conn, tx))
            {
                await set.ExecuteNonQueryAsync();
            }
            await using var cmd = new NpgsqlCommand("""
                SELECT id, status, attempts, last_error, available_at, now() FROM outbox_messages
                WHERE type = 'approval.execute' AND payload->>'approvalId' = @id::text
                """, conn, tx);
            cmd.Parameters.AddWithValue("id", approvalId);
            await using var reader = await cmd.ExecuteReaderAsync();
            if (await reader.ReadAsync())
            {
                state = new MessageState(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetDateTime(4), reader.GetDateTime(5));
                if (condition(state))
                {
                    return state;
                }
            }
            await Task.Delay(50);
        }
        throw new ShouldAssertException($"The execute message never reached the expected state; last seen: {state}");
    }

    private async Task<string> StatusAsync(Guid approvalId) =>
        (await (await _tenant.Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync()).GetProperty("status").GetString()!;

    private async Task WaitForStatusAsync(Guid approvalId, string status)
    {
        for (var i = 0; i < 300 && await StatusAsync(approvalId) != status; i++)
        {
            await Task.Delay(50);
        }
        (await StatusAsync(approvalId)).ShouldBe(status);
    }

    private async Task<int> VersionCountAsync(Guid documentId)
    {
        using var response = await _member.Client.GetAsync($"/api/v1/documents/{documentId}/versions");
        return (await response.JsonAsync()).GetProperty("items").GetArrayLength();
    }
}
