using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>
/// Real concurrency: hundreds of simultaneous requests through the HTTP pipeline against one document or
/// one request. Exactly one wins; the side effect happens exactly once, counted in the database. Runs in-process
/// (<see cref="ApprovalConcurrencyTests"/>) and through the local cluster's load balancer, where the requests are
/// spread over two API nodes (<see cref="ClusterApprovalConcurrencyTests"/>).
/// </summary>
public abstract class ApprovalConcurrencySuite<TFixture>(TFixture f) where TFixture : ApprovalSuiteFixture
{
    private const int Parallel = 500;

    [Fact]
    public async Task Of_500_parallel_delete_requests_on_one_document_exactly_one_is_created()
    {
        var documentId = await f.UploadAsync(f.Member);
        var statuses = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async i =>
        {
            var who = i % 2 == 0 ? f.Member : f.Admin;
            using var response = await who.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = $"attempt {i}" });
            return response.StatusCode;
        }));
        Summary(statuses).ShouldBe($"201×1, 409×{Parallel - 1}");
        (await CountAsync("SELECT count(*) FROM approval_requests WHERE document_id = @id", documentId)).ShouldBe(1);
    }

    [Fact]
    public async Task Of_500_parallel_approvals_by_two_admins_exactly_one_succeeds_and_the_delete_runs_once()
    {
        var documentId = await f.UploadAsync(f.Member);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        var statuses = await ApproveInParallelAsync(approvalId);
        Summary(statuses).ShouldBe($"200×1, 409×{Parallel - 1}");

        await f.WaitForStatusAsync(approvalId, "Executed");
        (await CountAsync("SELECT count(*) FROM outbox_messages WHERE type = 'approval.execute' AND payload->>'approvalId' = @id::text", approvalId)).ShouldBe(1);
        (await CountAsync("SELECT count(*) FROM documents WHERE id = @id AND status = 'Deleted'", documentId)).ShouldBe(1);
        (await f.NotificationsAsync(f.Member, "approval.executed", approvalId)).Count.ShouldBe(1);
        (await f.NotificationsAsync(f.Member, "approval.approved", approvalId)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Of_500_parallel_approvals_of_a_replace_exactly_one_succeeds_and_one_version_is_added()
    {
        var documentId = await f.UploadAsync(f.Member, "v1");
        var approvalId = (await f.RequestReplaceAsync(f.Member, documentId, "v2")).GetProperty("id").GetGuid();
        var statuses = await ApproveInParallelAsync(approvalId);
        Summary(statuses).ShouldBe($"200×1, 409×{Parallel - 1}");

        await f.WaitForStatusAsync(approvalId, "Executed");
        (await CountAsync("SELECT count(*) FROM document_versions WHERE document_id = @id", documentId)).ShouldBe(2);
        using var content = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false");
        (await content.Content.ReadAsStringAsync()).ShouldBe("v2");
    }

    private async Task<HttpStatusCode[]> ApproveInParallelAsync(Guid approvalId) =>
        await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async i =>
        {
            using var response = await ApprovalSuiteFixture.ApproveAsync(i % 2 == 0 ? f.Admin : f.SecondAdmin, approvalId);
            return response.StatusCode;
        }));

    private static string Summary(IEnumerable<HttpStatusCode> statuses) =>
        string.Join(", ", statuses.GroupBy(s => (int)s).OrderBy(g => g.Key).Select(g => $"{g.Key}×{g.Count()}"));

    private async Task<long> CountAsync(string sql, Guid id)
    {
        await using var conn = new NpgsqlConnection(f.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{f.TenantId}', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("id", id);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}

public sealed class ApprovalConcurrencyTests(ApprovalFixture fixture) : ApprovalConcurrencySuite<ApprovalFixture>(fixture), IClassFixture<ApprovalFixture>;
