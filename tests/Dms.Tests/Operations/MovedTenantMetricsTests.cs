using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Operations;

/// <summary>
/// The outbox gauges after a tenant move (ADR 0036): the rows a moved tenant left behind in the main database are not a
/// backlog (nothing will ever process them there, and they would fire the backlog alert after every move), while the
/// messages in the tenant's new database are counted.
/// </summary>
public sealed class MovedTenantMetricsTests
{
    [Fact]
    public async Task A_moved_tenants_leftover_outbox_is_not_counted_and_its_new_database_is()
    {
        var app = await DmsApp.GetAsync();
        var tenant = await app.CreateTenantAsync();
        // A type of this test's own, due in a day: no dispatcher claims them, so the counts hold still.
        var type = $"test.moved_{Guid.NewGuid():N}"[..24];
        await InsertWaitingAsync(app.OwnerConnectionString, tenant.Id, type, 3);
        (await BacklogAsync(app, type)).ShouldBe(3, "at home, the tenant's messages are its backlog");

        var cluster = await TestCluster.GetAsync();
        var (targetApp, targetOwner) = await cluster.CreateDatabaseAsync($"dms_metrics_{Guid.NewGuid():N}"[..24]);
        await MigrationRunner.MigrateAsync(targetOwner, MigrationRunner.EmbeddedMigrations(), null, CancellationToken.None);
        await using (var target = new NpgsqlConnection(targetOwner))
        {
            await target.ExecuteAsync("INSERT INTO tenants (id, slug, name) VALUES (@id, @slug, 'moved')", new { id = tenant.Id, slug = tenant.Slug });
        }
        await InsertWaitingAsync(targetOwner, tenant.Id, type, 2);

        // The directory says Moved, as the mover's switch leaves it, and the node is told.
        var address = new NpgsqlConnectionStringBuilder(targetApp);
        await using var main = new NpgsqlConnection(app.OwnerConnectionString);
        await main.ExecuteAsync("""
            INSERT INTO tenant_placements (tenant, state, host, port, database, changed_by, changed_at)
            VALUES (@id, 'Moved', @host, @port, @database, 'MovedTenantMetricsTests', now())
            """, new { id = tenant.Id, host = address.Host, port = address.Port, database = address.Database });
        try
        {
            app.Service<TenantDatabases>().Clear();
            (await BacklogAsync(app, type)).ShouldBe(2, "only the new database's messages count; the 3 left behind do not");
        }
        finally
        {
            await main.ExecuteAsync("DELETE FROM tenant_placements WHERE tenant = @id", new { id = tenant.Id });
            app.Service<TenantDatabases>().Clear();
        }
    }

    private static async Task<double> BacklogAsync(DmsApp app, string type) =>
        (await app.Service<MetricsSampler>().SampleAsync(CancellationToken.None))
            .Where(r => r.Metric == "outbox_backlog" && r.Label == type).Sum(r => r.Value);

    private static async Task InsertWaitingAsync(string ownerConnection, Guid tenant, string type, int count)
    {
        await using var conn = new NpgsqlConnection(ownerConnection);
        await conn.ExecuteAsync("""
            INSERT INTO outbox_messages (id, tenant_id, type, payload, available_at)
            SELECT gen_random_uuid(), @tenant, @type, '{}'::jsonb, now() + interval '1 day' FROM generate_series(1, @count)
            """, new { tenant, type, count });
    }
}
