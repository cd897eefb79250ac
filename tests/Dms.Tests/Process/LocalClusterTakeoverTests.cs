using System.Diagnostics;
using System.Net;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Process;

/// <summary>
/// Issue 14: "a worker killed mid-execution is taken over by another with exactly-once effects", in the shared local
/// cluster (two workers). worker1 claims an approved delete's execution and dies on the spot (SIGKILL from its fault
/// injection, after the claim committed and before the side effect); worker2 takes the message over once the lease
/// runs out. Counted: the document deleted once, one execution audit event, one notification, the request Executed,
/// the message Done after two attempts.
/// </summary>
[Collection(LocalClusterFixture.Collection)]
public sealed class LocalClusterTakeoverTests(LocalClusterFixture cluster, ClusterApprovalFixture f, ITestOutputHelper output) : IClassFixture<ClusterApprovalFixture>
{
    [Fact]
    public async Task A_worker_killed_mid_execution_is_taken_over_by_the_other_with_exactly_once_effects()
    {
        var (victim, survivor) = (cluster.WorkerPids[0], cluster.WorkerPids[1]);
        LocalClusterScript.Alive(victim).ShouldBeTrue("worker1 waits, paused, for this test");
        var documentId = await f.UploadAsync(f.Member, "to be deleted once");
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId, "Takeover test")).GetProperty("id").GetGuid();
        var rowVersion = await f.OwnerScalarAsync<int>("SELECT row_version FROM documents WHERE id = @id", ("id", documentId));
        rowVersion.ShouldBeGreaterThan(0);

        // Only worker1 runs while the execution is written: worker2 is paused, worker1 (armed) resumed.
        await LocalClusterScript.SignalAsync("STOP", survivor);
        Message held;
        try
        {
            await LocalClusterScript.SignalAsync("CONT", victim);
            using (var approved = await ApprovalSuiteFixture.ApproveAsync(f.Admin, approvalId, "ok"))
            {
                await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            var clock = Stopwatch.StartNew();
            await LocalClusterScript.WaitForExitAsync(victim, TimeSpan.FromSeconds(60));
            output.WriteLine($"worker1 (pid {victim}) died {clock.ElapsedMilliseconds} ms after the approval");
            var log = await ReadWhenContainsAsync(cluster.LogPath("worker1.log"), "fault injection: killing the process");
            held = await MessageAsync(approvalId);
            log.ShouldContain($"after claiming outbox message {held.Id}", customMessage: "worker1 died holding this approval's execution");

            // What the dead worker left: the claim committed, the side effect not done.
            held.Status.ShouldBe("Processing");
            held.Attempts.ShouldBe(1);
            held.LockedBy.ShouldContain($":{victim}:", customMessage: "leased by worker1");
            (await StatusAsync(approvalId)).ShouldBe("Approved");
            (await f.OwnerScalarAsync<string>("SELECT status FROM documents WHERE id = @id", ("id", documentId))).ShouldBe("PendingDelete");
        }
        finally
        {
            await LocalClusterScript.SignalAsync("CONT", survivor);
        }

        // worker2 takes it over once the lease has run out, and carries it out.
        var executed = await f.WaitForStatusAsync(approvalId, "Executed", TimeSpan.FromSeconds(90));
        var executedAt = await f.OwnerScalarAsync<DateTime>("SELECT executed_at FROM approval_requests WHERE id = @id", ("id", approvalId));
        output.WriteLine($"lease held by worker1 until {held.LockedUntil:HH:mm:ss.fff}; executed by worker2 at {executedAt:HH:mm:ss.fff} " +
            $"({(executedAt - held.LockedUntil).TotalMilliseconds:F0} ms after the lease ran out)");
        executedAt.ShouldBeGreaterThanOrEqualTo(held.LockedUntil, "nobody took the message before worker1's lease ran out");
        executed.GetProperty("status").GetString().ShouldBe("Executed");

        // Exactly once, counted.
        var done = await MessageAsync(approvalId);
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM outbox_messages WHERE type = 'approval.execute' AND payload->>'approvalId' = @id::text",
            ("id", approvalId))).ShouldBe(1, "one execution message");
        done.Status.ShouldBe("Done");
        done.Attempts.ShouldBe(2, "worker1's claim and worker2's");
        (await f.OwnerScalarAsync<string>("SELECT status FROM documents WHERE id = @id", ("id", documentId))).ShouldBe("Deleted");
        (await f.OwnerScalarAsync<int>("SELECT row_version FROM documents WHERE id = @id", ("id", documentId)))
            .ShouldBe(rowVersion + 1, "the document was deleted once (every change of the row counts one version)");
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action = 'approval.executed' AND entity_id = @id",
            ("id", approvalId.ToString()))).ShouldBe(1, "one execution audit event");
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action = 'approval.failed' AND entity_id = @id",
            ("id", approvalId.ToString()))).ShouldBe(0);
        (await f.NotificationsAsync(f.Member, "approval.executed", approvalId)).Count.ShouldBe(1, "one notification");
        using var trash = await f.Admin.Client.GetAsync("/api/v1/trash?limit=200");
        (await trash.JsonAsync()).GetProperty("items").EnumerateArray().Count(t => t.GetProperty("id").GetGuid() == documentId).ShouldBe(1);
        output.WriteLine($"after the takeover: message {done.Id} Done after {done.Attempts} attempts; document Deleted (row version {rowVersion} → {rowVersion + 1}); " +
            "1 approval.executed audit event, 1 notification, in the trash once");
    }

    private sealed record Message(Guid Id, string Status, int Attempts, string LockedBy, DateTime LockedUntil);

    private async Task<Message> MessageAsync(Guid approvalId)
    {
        await using var conn = new NpgsqlConnection(f.OwnerConnectionString);
        await conn.OpenAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{f.TenantId}', false)", conn))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand("""
            SELECT id, status, attempts, coalesce(locked_by, ''), coalesce(locked_until, '-infinity')
            FROM outbox_messages WHERE type = 'approval.execute' AND payload->>'approvalId' = @id::text
            """, conn);
        cmd.Parameters.AddWithValue("id", approvalId);
        await using var reader = await cmd.ExecuteReaderAsync();
        (await reader.ReadAsync()).ShouldBeTrue($"no execution message for {approvalId}");
        return new Message(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetDateTime(4));
    }

    private async Task<string?> StatusAsync(Guid approvalId) =>
        (await (await f.Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync()).GetProperty("status").GetString();

    /// <summary>A killed process's last line reaches its log file a moment after it dies.</summary>
    private static async Task<string> ReadWhenContainsAsync(string path, string text)
    {
        var content = "";
        for (var i = 0; i < 50 && !(content = await File.ReadAllTextAsync(path)).Contains(text, StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }
        content.ShouldContain(text);
        return content;
    }
}
