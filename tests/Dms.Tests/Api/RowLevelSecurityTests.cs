using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// The database itself isolates tenants: connected as the application's runtime role, a query without
/// the tenant setting, or with another tenant's, sees none of a tenant's rows and cannot write them.
/// </summary>
public sealed class RowLevelSecurityTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private static readonly string[] TenantTables = ["users", "refresh_tokens", "workspaces", "folders", "documents", "document_versions"];

    [Fact]
    public async Task The_runtime_role_sees_zero_rows_of_a_tenant_unless_app_tenant_id_is_that_tenant()
    {
        var tenant = fixture.Tenant;
        using (var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("rls.txt", Uploads.Text("rls"))))
        {
            upload.EnsureSuccessStatusCode();
        }
        using (var folder = await tenant.Admin.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = tenant.DefaultWorkspaceId, name = $"rls-{Guid.NewGuid():N}" }))
        {
            folder.EnsureSuccessStatusCode();
        }
        var other = await tenant.App.CreateTenantAsync();
        await using var conn = new NpgsqlConnection(tenant.App.AppConnectionString);
        await conn.OpenAsync();

        foreach (var table in TenantTables)
        {
            (await CountAsync(conn, table, tenant.Id, setting: null)).ShouldBe(0, $"{table} without app.tenant_id");
            (await CountAsync(conn, table, tenant.Id, setting: other.Id)).ShouldBe(0, $"{table} as another tenant");
            (await CountAsync(conn, table, tenant.Id, setting: tenant.Id)).ShouldBeGreaterThan(0, $"{table} as its own tenant");
        }
    }

    [Fact]
    public async Task The_runtime_role_cannot_write_rows_for_another_tenant_nor_change_versions()
    {
        var tenant = fixture.Tenant;
        var other = await tenant.App.CreateTenantAsync();
        await using var conn = new NpgsqlConnection(tenant.App.AppConnectionString);
        await conn.OpenAsync();
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await Exec(conn, tx, $"SELECT set_config('app.tenant_id', '{tenant.Id}', true)");
            var ex = await Should.ThrowAsync<PostgresException>(() => Exec(conn, tx,
                $"INSERT INTO workspaces (id, tenant_id, name) VALUES ('{Guid.NewGuid()}', '{other.Id}', 'smuggled')"));
            ex.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege); // new row violates row-level security policy
        }
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await Exec(conn, tx, $"SELECT set_config('app.tenant_id', '{tenant.Id}', true)");
            var ex = await Should.ThrowAsync<PostgresException>(() => Exec(conn, tx, "UPDATE document_versions SET size = 0"));
            ex.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
        }
        var role = await new NpgsqlCommand("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", conn).ExecuteScalarAsync();
        role.ShouldBe(false);
    }

    private static async Task<long> CountAsync(NpgsqlConnection conn, string table, Guid tenant, Guid? setting)
    {
        await using var tx = await conn.BeginTransactionAsync();
        if (setting is not null)
        {
            await Exec(conn, tx, $"SELECT set_config('app.tenant_id', '{setting}', true)");
        }
        // The filter names the tenant explicitly: only row-level security can make these rows invisible.
        await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM {table} WHERE tenant_id = @tenant", conn, tx);
        cmd.Parameters.AddWithValue("tenant", tenant);
        var count = (long)(await cmd.ExecuteScalarAsync())!;
        await tx.RollbackAsync();
        return count;
    }

    private static async Task Exec(NpgsqlConnection conn, NpgsqlTransaction tx, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync();
    }
}
