using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Dms.Tests.Security;
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
    /// <summary>
    /// Every table with a <c>tenant_id</c> column, read from the catalog, so a table added later is covered without
    /// touching this test: row-level security enabled and forced, and every policy the runtime role is subject to
    /// is exactly the tenant one (an extra <c>OR</c> in it would be a switch around the wall).
    /// </summary>
    internal static async Task<List<TenantTable>> TenantTablesAsync(NpgsqlConnection conn)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   coalesce(array_agg(pg_get_expr(p.polqual, p.polrelid) || ' | ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
                            FILTER (WHERE p.polname IS NOT NULL
                                    AND (0 = ANY (p.polroles) OR (SELECT oid FROM pg_roles WHERE rolname = 'dms_app') = ANY (p.polroles))), '{}')
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            LEFT JOIN pg_policy p ON p.polrelid = c.oid
            WHERE c.relkind IN ('r', 'p')
            GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity
            ORDER BY c.relname
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var tables = new List<TenantTable>();
        while (await reader.ReadAsync())
        {
            tables.Add(new TenantTable(reader.GetString(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetFieldValue<string[]>(3)));
        }
        return tables;
    }

    internal sealed record TenantTable(string Name, bool Enabled, bool Forced, string[] RuntimePolicies)
    {
        private const string TenantRule = "(tenant_id = app_tenant_id()) | (tenant_id = app_tenant_id())";

        public string? Problem() =>
            !Enabled ? "row-level security is not enabled"
            : !Forced ? "row-level security is not forced (the owner would bypass it)"
            : RuntimePolicies.Length == 0 ? "no policy applies to the runtime role (it would see nothing, or the policy was forgotten)"
            : RuntimePolicies.FirstOrDefault(p => p != TenantRule) is { } other ? $"a runtime policy is not the tenant rule: {other}"
            : null;
    }

    [Fact]
    public async Task Every_tenant_table_in_the_catalog_has_forced_row_level_security_with_the_tenant_policy_only()
    {
        await using var conn = new NpgsqlConnection(fixture.Tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        var tables = await TenantTablesAsync(conn);
        tables.Count.ShouldBeGreaterThanOrEqualTo(14, string.Join(", ", tables.Select(t => t.Name)));
        tables.Where(t => t.Problem() is not null).Select(t => $"{t.Name}: {t.Problem()}").ShouldBeEmpty();
    }

    [Fact]
    public async Task A_tenant_table_without_forced_row_level_security_or_with_a_switch_in_its_policy_is_caught()
    {
        // The check above must be able to fail: a throwaway table in a transaction that is rolled back.
        await using var conn = new NpgsqlConnection(fixture.Tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var create = new NpgsqlCommand("""
            CREATE TABLE rls_probe_plain (id uuid PRIMARY KEY, tenant_id uuid NOT NULL);
            CREATE TABLE rls_probe_switch (id uuid PRIMARY KEY, tenant_id uuid NOT NULL);
            ALTER TABLE rls_probe_switch ENABLE ROW LEVEL SECURITY;
            ALTER TABLE rls_probe_switch FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON rls_probe_switch USING (tenant_id = app_tenant_id() OR current_setting('app.all', true) = 'on');
            """, conn, tx))
        {
            await create.ExecuteNonQueryAsync();
        }
        var tables = (await TenantTablesAsync(conn)).ToDictionary(t => t.Name);
        tables["rls_probe_plain"].Problem().ShouldBe("row-level security is not enabled");
        tables["rls_probe_switch"].Problem().ShouldNotBeNull().ShouldStartWith("a runtime policy is not the tenant rule");
        await tx.RollbackAsync();
    }

    [Fact]
    public async Task The_runtime_role_sees_zero_rows_of_a_tenant_in_any_tenant_table_unless_app_tenant_id_is_that_tenant()
    {
        var tenant = fixture.Tenant;
        await FillEveryTableAsync(tenant);
        var other = await tenant.App.CreateTenantAsync();
        await using var owner = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await owner.OpenAsync();
        var tables = await TenantTablesAsync(owner);
        await using var conn = new NpgsqlConnection(tenant.App.AppConnectionString);
        await conn.OpenAsync();

        foreach (var table in tables.Select(t => t.Name))
        {
            // A table this setup leaves empty would make the check vacuous: give it a row above when adding one.
            (await CountAsync(owner, table, tenant.Id, setting: tenant.Id)).ShouldBeGreaterThan(0, $"{table} has no row of the tenant: extend FillEveryTableAsync");
            (await CountAsync(conn, table, tenant.Id, setting: null)).ShouldBe(0, $"{table} without app.tenant_id");
            (await CountAsync(conn, table, tenant.Id, setting: other.Id)).ShouldBe(0, $"{table} as another tenant");
            (await CountAsync(conn, table, tenant.Id, setting: tenant.Id)).ShouldBeGreaterThan(0, $"{table} as its own tenant");
        }
    }

    /// <summary>Through the API, at least one row of the tenant in every tenant table.</summary>
    private static async Task FillEveryTableAsync(TestTenant tenant)
    {
        var admin = tenant.Admin.Client;
        Guid documentId;
        using (var upload = await admin.PostAsync("/api/v1/documents", Uploads.Form("rls.txt", Uploads.Text("rls"))))
        {
            upload.EnsureSuccessStatusCode();
            documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        }
        using (var folder = await admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId = tenant.DefaultWorkspaceId, name = $"rls-{Guid.NewGuid():N}" }))
        {
            folder.EnsureSuccessStatusCode();
        }
        using (var session = await admin.PostAsJsonAsync("/api/v1/uploads", new { fileName = "rls.txt", size = 3 }))
        {
            session.EnsureSuccessStatusCode();
        }
        using (var token = await admin.PostAsJsonAsync("/api/v1/me/tokens", new { name = "rls", expiresAt = DateTime.UtcNow.AddDays(1) }))
        {
            token.EnsureSuccessStatusCode();
        }
        var viewer = await tenant.CreateUserAsync("Viewer");
        using (var membership = await admin.PostAsJsonAsync($"/api/v1/workspaces/{tenant.DefaultWorkspaceId}/members", new { userId = viewer.UserId, role = "Viewer" }))
        {
            membership.EnsureSuccessStatusCode();
        }
        // A member's request notifies the admins through the outbox: approval_requests, outbox_messages, notifications.
        var member = await tenant.CreateUserAsync("Member");
        using (var upload = await member.Client.PostAsync("/api/v1/documents", Uploads.Form("member.txt", Uploads.Text("member"))))
        {
            upload.EnsureSuccessStatusCode();
            documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        }
        using (var request = await member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "rls" }))
        {
            request.EnsureSuccessStatusCode();
        }
        await StoredState.SettleAsync(tenant.App, tenant.Id);
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
