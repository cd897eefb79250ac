using System.Text.RegularExpressions;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// Plans as the runtime role, under row-level security, on a tenant big enough for the planner to choose: an index that
/// RLS lets PostgreSQL use must serve the list filter, not a walk of the whole tenant (issue 12 starts here).
/// </summary>
public sealed partial class QueryPlanTests : IAsyncLifetime
{
    private const int Documents = 20_000;
    private const int PendingDeletes = 20;
    private DmsApp _app = null!;
    private TestTenant _tenant = null!;

    public async Task InitializeAsync()
    {
        // An app of its own: the seed is large, and the proof below drops an index inside a transaction.
        _app = await DmsApp.CreateIsolatedAsync($"plans_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>());
        _tenant = await _app.CreateTenantAsync();
        await using var owner = new NpgsqlConnection(_app.OwnerConnectionString);
        await owner.OpenAsync();
        await using (var tx = await owner.BeginTransactionAsync())
        {
            await Db.EnterTenantAsync(owner, tx, _tenant.Id, CancellationToken.None);
            await using var seed = new NpgsqlCommand("""
                WITH admin AS (SELECT id FROM users WHERE tenant_id = @tenant LIMIT 1),
                docs AS (
                  INSERT INTO documents (id, tenant_id, workspace_id, title, status, current_version, created_at, created_by, updated_by)
                  SELECT gen_random_uuid(), @tenant, @workspace, 'Seeded ' || g, CASE WHEN g % (@count / @pending) = 0 THEN @pendingStatus ELSE @active END,
                         1, now() - g * interval '1 minute', admin.id, admin.id
                  FROM generate_series(1, @count) g, admin
                  RETURNING id, created_by)
                INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
                SELECT gen_random_uuid(), @tenant, docs.id, 1, @tenant || '/' || docs.id || '/1', 3, repeat('a', 64), 'text/plain', 'seeded.txt', docs.created_by
                FROM docs
                """, owner, tx);
            seed.Parameters.AddWithValue("tenant", _tenant.Id);
            seed.Parameters.AddWithValue("workspace", _tenant.DefaultWorkspaceId);
            seed.Parameters.AddWithValue("count", Documents);
            seed.Parameters.AddWithValue("pending", PendingDeletes);
            seed.Parameters.AddWithValue("pendingStatus", DocumentStatus.PendingDelete.Db());
            seed.Parameters.AddWithValue("active", DocumentStatus.Active.Db());
            await seed.ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }
        await using var analyze = new NpgsqlCommand("ANALYZE documents; ANALYZE document_versions;", owner);
        await analyze.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    /// <summary>The status filter of GET /documents as DocumentReadModel.ListAsync writes it for an admin.</summary>
    private static readonly string StatusList =
        $"{DocumentReadModel.Select} WHERE d.tenant_id = @tenant AND d.status NOT IN ({DocumentStates.Gone.Sql()}) AND d.status = @status " +
        "ORDER BY d.created_at DESC, d.id DESC LIMIT 26";

    [GeneratedRegex(@"Rows Removed by Filter: (\d+)")]
    private static partial Regex RowsRemoved();

    private async Task<string> ExplainAsync(NpgsqlConnection conn, NpgsqlTransaction tx)
    {
        await Db.EnterTenantAsync(conn, tx, _tenant.Id, CancellationToken.None);
        await using var explain = new NpgsqlCommand($"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {StatusList}", conn, tx);
        explain.Parameters.AddWithValue("tenant", _tenant.Id);
        explain.Parameters.AddWithValue("status", DocumentStatus.PendingDelete.Db());
        var lines = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }
        return string.Join('\n', lines);
    }

    private static int MostRowsRemoved(string plan) =>
        RowsRemoved().Matches(plan).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    [Fact]
    public async Task The_status_filter_is_served_by_its_index_for_the_runtime_role()
    {
        await using var conn = new NpgsqlConnection(_app.AppConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        var plan = await ExplainAsync(conn, tx);
        plan.ShouldContain("documents_by_status", customMessage: plan);
        MostRowsRemoved(plan).ShouldBeLessThan(1_000, plan);
        plan.ShouldNotContain("Seq Scan on documents", customMessage: plan);
    }

    [Fact]
    public async Task Without_the_index_the_same_check_fails()
    {
        // The owner is held to row-level security too (FORCE), so its plan is the runtime role's; the drop is rolled back.
        await using var owner = new NpgsqlConnection(_app.OwnerConnectionString);
        await owner.OpenAsync();
        await using var tx = await owner.BeginTransactionAsync();
        await using (var drop = new NpgsqlCommand("DROP INDEX documents_by_status", owner, tx))
        {
            await drop.ExecuteNonQueryAsync();
        }
        var plan = await ExplainAsync(owner, tx);
        plan.ShouldNotContain("documents_by_status");
        MostRowsRemoved(plan).ShouldBeGreaterThan(1_000, plan);
        await tx.RollbackAsync();
    }
}
