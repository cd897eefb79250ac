using Dms.Platform.Database;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

public sealed class MigrationTests
{
    [Fact]
    public async Task Applied_migrations_are_not_applied_again_even_by_nodes_starting_together()
    {
        var app = await DmsApp.GetAsync();
        var applied = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ =>
            MigrationRunner.MigrateAsync(app.OwnerConnectionString, MigrationRunner.EmbeddedMigrations(), null, CancellationToken.None)));
        applied.ShouldAllBe(count => count == 0);
    }

    [Fact]
    public async Task Nodes_starting_together_on_an_empty_database_apply_each_migration_exactly_once()
    {
        // An empty database: without the advisory lock the nodes would race on creating schema_migrations and on
        // applying the same scripts, and fail or apply one twice.
        var cluster = await TestCluster.GetAsync();
        var (_, owner) = await cluster.CreateDatabaseAsync($"mig_{Guid.NewGuid():N}"[..20]);
        var migrations = MigrationRunner.EmbeddedMigrations();
        using var go = new SemaphoreSlim(0);
        var nodes = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            await go.WaitAsync();
            return await MigrationRunner.MigrateAsync(owner, migrations, null, CancellationToken.None);
        })).ToList();
        go.Release(nodes.Count);
        var applied = await Task.WhenAll(nodes);

        applied.Count(count => count == migrations.Count).ShouldBe(1, string.Join(", ", applied));
        applied.Count(count => count == 0).ShouldBe(nodes.Count - 1, string.Join(", ", applied));
        await using var conn = new Npgsql.NpgsqlConnection(owner);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM schema_migrations", conn);
        Convert.ToInt32(await cmd.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture).ShouldBe(migrations.Count);
    }

    [Fact]
    public async Task A_changed_applied_migration_stops_start_up_with_a_clear_error()
    {
        var app = await DmsApp.GetAsync();
        var edited = MigrationRunner.EmbeddedMigrations()
            .Select(m => m.Version == 1 ? m with { Sql = m.Sql + "\n-- edited", Checksum = MigrationRunner.Checksum(m.Sql + "\n-- edited") } : m)
            .ToList();
        var ex = await Should.ThrowAsync<StartupException>(() =>
            MigrationRunner.MigrateAsync(app.OwnerConnectionString, edited, null, CancellationToken.None));
        ex.Message.ShouldContain("0001_init");
        ex.Message.ShouldContain("changed after it was applied");
    }

    [Fact]
    public void Embedded_migrations_are_numbered_without_gaps()
    {
        var versions = MigrationRunner.EmbeddedMigrations().Select(m => m.Version).ToList();
        versions.ShouldBe(Enumerable.Range(1, versions.Count).ToList());
    }
}
