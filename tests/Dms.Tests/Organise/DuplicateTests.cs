using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;
using static Dms.Tests.Organise.Organising;

namespace Dms.Tests.Organise;

/// <summary>
/// Duplicate uploads (issue 16, item 5): flagged to a reader of the original and never to anyone who cannot read it;
/// a tenant setting refuses them with 409 and stores nothing; the lookup is an index scan under row-level security.
/// </summary>
public sealed class DuplicateTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private static Guid[] DuplicateOf(JsonElement document) => [.. document.GetProperty("duplicateOf").EnumerateArray().Select(e => e.GetGuid())];

    [Fact]
    public async Task A_duplicate_is_flagged_to_a_reader_of_the_original_and_not_to_a_non_reader()
    {
        var reader = await f.CreateUserAsync("Member");
        var stranger = await f.CreateUserAsync("Member");
        var originals = await WorkspaceAsync(f, (f.Member, "Contributor"), (reader, "Viewer"));
        var readersOwn = await WorkspaceAsync(f, (reader, "Contributor"));
        var strangersOwn = await WorkspaceAsync(f, (stranger, "Contributor"));
        var content = $"the same bytes {Guid.NewGuid()}";

        var original = await UploadAsync(f.Member, originals, content);
        DuplicateOf(original).ShouldBeEmpty("the first copy duplicates nothing");
        var originalId = original.GetProperty("id").GetGuid();

        var readersCopy = await UploadAsync(reader, readersOwn, content);
        DuplicateOf(readersCopy).ShouldBe([originalId], "a reader of the original is told");
        var strangersCopy = await UploadAsync(stranger, strangersOwn, content);
        DuplicateOf(strangersCopy).ShouldBeEmpty("someone who cannot read either copy learns nothing");
        var adminsCopy = await UploadAsync(f.Admin, originals, content);
        DuplicateOf(adminsCopy).Length.ShouldBe(3, "an admin reads every workspace");
        DuplicateOf(await UploadAsync(f.Member, originals, $"other bytes {Guid.NewGuid()}")).ShouldBeEmpty();

        // A deleted original is no longer "already here".
        await f.OwnerSqlAsync("UPDATE documents SET status = 'Deleted' WHERE id = @id", ("id", originalId));
        DuplicateOf(await UploadAsync(reader, readersOwn, content)).ShouldBe([readersCopy.GetProperty("id").GetGuid(), adminsCopy.GetProperty("id").GetGuid()]);
    }

    [Fact]
    public async Task Refusing_duplicates_answers_409_with_the_readable_ids_and_stores_nothing()
    {
        var stranger = await f.CreateUserAsync("Member");
        var workspace = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var strangersOwn = await WorkspaceAsync(f, (stranger, "Contributor"));
        var content = $"refused bytes {Guid.NewGuid()}";
        var originalId = (await UploadAsync(f.Member, workspace, content)).GetProperty("id").GetGuid();

        await (await f.Member.Client.PutAsJsonAsync("/api/v1/admin/duplicate-settings", new { refuse = true })).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await f.Admin.Client.PutAsJsonAsync("/api/v1/admin/duplicate-settings", new { })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        using (var on = await f.Admin.Client.PutAsJsonAsync("/api/v1/admin/duplicate-settings", new { refuse = true }))
        {
            await on.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await on.JsonAsync()).GetProperty("refuse").GetBoolean().ShouldBeTrue();
        }
        try
        {
            var documents = await f.OwnerScalarAsync<long>("SELECT count(*) FROM documents");
            var blobs = await f.CountBlobsAsync($"{f.TenantId}/");
            using (var refused = await f.Member.Client.PostAsync("/api/v1/documents", Uploads.Form("again.txt", Uploads.Text(content), "Again", workspaceId: workspace)))
            {
                var problem = await refused.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document.duplicate");
                DuplicateOf(problem).ShouldBe([originalId]);
            }
            (await f.OwnerScalarAsync<long>("SELECT count(*) FROM documents")).ShouldBe(documents, "no document was written");
            (await f.CountBlobsAsync($"{f.TenantId}/")).ShouldBe(blobs, "the refused file's blob was removed");

            // Refusing someone who cannot read the original would tell them it exists: they get their copy, unflagged.
            DuplicateOf(await UploadAsync(stranger, strangersOwn, content)).ShouldBeEmpty();
        }
        finally
        {
            using var off = await f.Admin.Client.PutAsJsonAsync("/api/v1/admin/duplicate-settings", new { refuse = false });
            await off.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action = 'duplicates.settings_changed'")).ShouldBe(2L);
    }

    [Fact]
    public async Task The_lookup_by_content_is_an_index_scan_for_the_runtime_role()
    {
        var workspace = await WorkspaceAsync(f, (f.Member, "Contributor"));
        for (var i = 0; i < 40; i++)
        {
            await UploadAsync(f.Member, workspace, $"filler {i} {Guid.NewGuid()}");
        }
        var sha = (await UploadAsync(f.Member, workspace, "looked up")).GetProperty("currentVersion").GetProperty("sha256").GetString()!;
        await f.OwnerSqlAsync("ANALYZE document_versions; ANALYZE documents");

        await using var conn = new NpgsqlConnection(f.Tenant.App.AppConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        // The test cluster's tables are tiny, where a sequential scan is as good as any and the planner's choice flips between
        // runs. What is proven is that the index CAN serve the lookup under row-level security (a non-LEAKPROOF operator could
        // not be used as an index condition at all, whatever the costs), and that the plan starts from the content.
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{f.TenantId}', true), set_config('enable_seqscan', 'off', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var explain = new NpgsqlCommand(
            "EXPLAIN (ANALYZE, FORMAT TEXT) " + Dms.Modules.Documents.Duplicates.DuplicateCheck.FindSql
                .Replace("@tenant", "@accessTenant", StringComparison.Ordinal), conn, tx);
        explain.Parameters.AddWithValue("accessTenant", f.TenantId);
        explain.Parameters.AddWithValue("sha256", sha);
        explain.Parameters.AddWithValue("self", Guid.NewGuid());
        explain.Parameters.AddWithValue("isAdmin", false);
        explain.Parameters.AddWithValue("accessUser", f.Member.UserId);
        var lines = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }
        var plan = string.Join('\n', lines);
        Console.WriteLine(plan);
        plan.ShouldContain("document_versions_sha256", customMessage: plan);
        plan.ShouldNotContain("Seq Scan", customMessage: plan);
        plan.ShouldNotContain("documents_recent", customMessage: "the lookup starts from the content, never from a walk of the tenant's documents\n" + plan);
    }
}
