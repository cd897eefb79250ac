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
