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
                   has_table_privilege('dms_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
                   coalesce(array_agg(pg_get_expr(p.polqual, p.polrelid) || ' | ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
                            FILTER (WHERE p.polname IS NOT NULL
                                    AND (0 = ANY (p.polroles) OR (SELECT oid FROM pg_roles WHERE rolname = 'dms_app') = ANY (p.polroles))), '{}')
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            LEFT JOIN pg_policy p ON p.polrelid = c.oid
            WHERE c.relkind IN ('r', 'p')
            GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity, c.oid
            ORDER BY c.relname
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var tables = new List<TenantTable>();
        while (await reader.ReadAsync())
        {
            tables.Add(new TenantTable(reader.GetString(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3), reader.GetFieldValue<string[]>(4)));
        }
        return tables;
    }

    /// <summary>
    /// Tables whose wall is not row-level security but the absence of any privilege of the runtime role: only definer
    /// functions read them, taking the tenant from app.tenant_id (document_search: ADR 0016; tested below), or, for
    /// share_link_tokens, answering only which tenant and link a token hash belongs to (ADR 0025; tests/Dms.Tests/Sharing).
    /// </summary>
    internal static readonly IReadOnlySet<string> Guarded = new HashSet<string>(StringComparer.Ordinal) { "document_search", "share_link_tokens" };

    internal sealed record TenantTable(string Name, bool Enabled, bool Forced, bool RuntimeHasPrivilege, string[] RuntimePolicies)
    {
        private const string TenantRule = "(tenant_id = app_tenant_id()) | (tenant_id = app_tenant_id())";

        public string? Problem() =>
            Guarded.Contains(Name) ? (RuntimeHasPrivilege ? "a guarded table gives the runtime role a privilege" : null)
            : !Enabled ? "row-level security is not enabled"
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

        foreach (var table in tables.Select(t => t.Name).Where(t => !Guarded.Contains(t)))
        {
            // A table this setup leaves empty would make the check vacuous: give it a row above when adding one.
            (await CountAsync(owner, table, tenant.Id, setting: tenant.Id)).ShouldBeGreaterThan(0, $"{table} has no row of the tenant: extend FillEveryTableAsync");
            (await CountAsync(conn, table, tenant.Id, setting: null)).ShouldBe(0, $"{table} without app.tenant_id");
            (await CountAsync(conn, table, tenant.Id, setting: other.Id)).ShouldBe(0, $"{table} as another tenant");
            (await CountAsync(conn, table, tenant.Id, setting: tenant.Id)).ShouldBeGreaterThan(0, $"{table} as its own tenant");
        }
    }

    [Fact]
    public async Task The_guarded_search_table_is_out_of_reach_and_its_functions_answer_only_for_the_tenant_of_the_transaction()
    {
        var tenant = fixture.Tenant;
        var word = "guard" + string.Concat(Guid.NewGuid().ToString("N").Where(char.IsLetter).Take(8));
        using (var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("g.txt", Uploads.Text("g"), $"Guarded {word}")))
        {
            upload.EnsureSuccessStatusCode();
        }
        var other = await tenant.App.CreateTenantAsync();
        await using var conn = new NpgsqlConnection(tenant.App.AppConnectionString);
        await conn.OpenAsync();

        async Task<long> FindAsync(Guid? setting, string function)
        {
            await using var tx = await conn.BeginTransactionAsync();
            if (setting is not null)
            {
                await Exec(conn, tx, $"SELECT set_config('app.tenant_id', '{setting}', true)");
            }
            var sql = function == "find"
                ? "SELECT count(*) FROM document_search_find(to_tsquery('dms_simple', @word), NULL, NULL, NULL, NULL, 100)"
                : function == "similar"
                    ? "SELECT count(*) FROM document_search_similar(@word, NULL, NULL, NULL, NULL, 10)"
                    : "SELECT total FROM document_search_count(to_tsquery('dms_simple', @word), NULL, NULL, NULL, NULL, 100)";
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.AddWithValue("word", word);
            var count = Convert.ToInt64(await cmd.ExecuteScalarAsync());
            await tx.RollbackAsync();
            return count;
        }

        foreach (var function in new[] { "find", "similar", "count" })
        {
            (await FindAsync(tenant.Id, function)).ShouldBe(1, function);
            (await FindAsync(other.Id, function)).ShouldBe(0, $"{function} as another tenant");
            (await FindAsync(null, function)).ShouldBe(0, $"{function} without app.tenant_id");
        }
        await using (var tx = await conn.BeginTransactionAsync())
        {
            var denied = await Should.ThrowAsync<PostgresException>(() => Exec(conn, tx, "SELECT count(*) FROM document_search"));
            denied.SqlState.ShouldBe("42501");
        }
    }

    /// <summary>Through the API, at least one row of the tenant in every tenant table.</summary>
    private static async Task FillEveryTableAsync(TestTenant tenant)
    {
        var admin = tenant.Admin.Client;
        Guid documentId;
        using (var upload = await admin.PostAsync("/api/v1/documents", Uploads.Form("rls.txt", Uploads.Text("rls"), tags: "rls")))
        {
            upload.EnsureSuccessStatusCode();
            documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        }
        // document_checkouts, document_comments.
        (await admin.PostAsync($"/api/v1/documents/{documentId}/checkout", null)).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync($"/api/v1/documents/{documentId}/comments", new { text = "rls" })).EnsureSuccessStatusCode();
        // With an Idempotency-Key: idempotency_keys gets a row too.
        using (var folder = await admin.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/v1/folders")
        {
            Content = JsonContent.Create(new { workspaceId = tenant.DefaultWorkspaceId, name = $"rls-{Guid.NewGuid():N}" }),
            Headers = { { "Idempotency-Key", Guid.NewGuid().ToString() } },
        }))
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
        using (var language = await admin.PutAsJsonAsync("/api/v1/admin/search-settings", new { language = "english" }))
        {
            language.EnsureSuccessStatusCode();
        }
        // saved_views, saved_view_pins (issue 16).
        (await admin.PostAsJsonAsync("/api/v1/views", new { name = $"rls-{Guid.NewGuid():N}", query = new { tag = "rls" }, pinned = true })).EnsureSuccessStatusCode();
        // Share links (issue 16): a link and the tenant's sharing settings.
        using (var share = await admin.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) }))
        {
            share.EnsureSuccessStatusCode();
        }
        using (var sharing = await admin.PutAsJsonAsync("/api/v1/admin/share-settings", new { enabled = true, maxDays = 30 }))
        {
            sharing.EnsureSuccessStatusCode();
        }
        // bulk_jobs, bulk_job_items (issue 16).
        using (var bulk = await admin.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "zip", documentIds = new[] { documentId } }))
        {
            bulk.EnsureSuccessStatusCode();
        }
        using (var duplicates = await admin.PutAsJsonAsync("/api/v1/admin/duplicate-settings", new { refuse = false }))
        {
            duplicates.EnsureSuccessStatusCode();
        }
        // Document types (issue 16): a type, and a document of it (document_field_values).
        using (var type = await admin.PostAsJsonAsync("/api/v1/document-types", new { name = "rls", fields = new[] { new { key = "n", label = "N", kind = "number" } } }))
        {
            type.EnsureSuccessStatusCode();
            var typeId = (await type.JsonAsync()).GetProperty("id").GetGuid();
            var typed = Uploads.Form("typed.txt", Uploads.Text("typed"));
            typed.Add(new StringContent(typeId.ToString()), "typeId");
            typed.Add(new StringContent("{\"n\": 1}"), "fields");
            (await admin.PostAsync("/api/v1/documents", typed)).EnsureSuccessStatusCode();
        }
        // tenant_subscriptions (issue 17): a plan given to the tenant.
        await tenant.App.GivePlanAsync(tenant);
        // billing_events (issue 17): stored through the billing module itself (the shared app has no webhook secret).
        await tenant.App.Service<Dms.Modules.Billing.Webhook.BillingEvents>().StoreAsync(tenant.Id, $"evt_rls_{Guid.NewGuid():N}", "invoice.upcoming",
            DateTime.UtcNow, "{\"type\":\"invoice.upcoming\"}", CancellationToken.None);
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
        // Approval policies (issue 13): a group with a member, a workspace policy naming it, a delegation, and a two-stage
        // request with one vote (approval_assignees, approval_votes).
        var second = await tenant.CreateUserAsync("Admin");
        using (var group = await admin.PostAsJsonAsync("/api/v1/groups", new { name = $"rls-{Guid.NewGuid():N}" }))
        {
            group.EnsureSuccessStatusCode();
            var groupId = (await group.JsonAsync()).GetProperty("id").GetGuid();
            using var joined = await admin.PostAsJsonAsync($"/api/v1/groups/{groupId}/members", new { userId = second.UserId });
            joined.EnsureSuccessStatusCode();
            using var policy = await admin.PutAsJsonAsync($"/api/v1/workspaces/{tenant.DefaultWorkspaceId}/policy", new
            {
                operations = new
                {
                    delete = new
                    {
                        mode = "approval",
                        stages = new object[]
                        {
                            new { name = "Admins", approvers = new { roles = new[] { "Admin" } }, quorum = 1 },
                            new { name = "Group", approvers = new { groups = new[] { groupId } }, quorum = 1 },
                        },
                    },
                },
            });
            policy.EnsureSuccessStatusCode();
        }
        using (var delegation = await admin.PostAsJsonAsync("/api/v1/me/delegation", new { delegateUserId = second.UserId, until = DateTime.UtcNow.AddDays(1) }))
        {
            delegation.EnsureSuccessStatusCode();
        }
        using (var request = await member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "rls" }))
        {
            request.EnsureSuccessStatusCode();
            var approvalId = (await request.JsonAsync()).GetProperty("id").GetGuid();
            using var vote = await admin.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "rls" });
            vote.EnsureSuccessStatusCode();
        }
        // Notification preferences and the digest choice (issue 15): notification_preferences, notification_settings.
        using (var preferences = await admin.PutAsJsonAsync("/api/v1/me/notification-preferences", new
        {
            kinds = new[] { new { kind = "approval.decided", inApp = true, email = false } },
            digest = "daily",
        }))
        {
            preferences.EnsureSuccessStatusCode();
        }
        // Webhooks (issue 15): an endpoint, a test event and its delivery, and one logged attempt (a name that never resolves).
        using (var hook = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://webhook.invalid/rls", events = new[] { "document.created" } }))
        {
            hook.EnsureSuccessStatusCode();
            var hookId = (await hook.JsonAsync()).GetProperty("id").GetGuid();
            using var test = await admin.PostAsync($"/api/v1/webhooks/{hookId}/test", null);
            test.EnsureSuccessStatusCode();
            for (var i = 0; i < 600; i++)
            {
                using var deliveries = await admin.GetAsync($"/api/v1/webhooks/{hookId}/deliveries");
                if ((await deliveries.JsonAsync()).GetProperty("items")[0].GetProperty("log").GetArrayLength() > 0)
                {
                    break;
                }
                await Task.Delay(50);
            }
        }
        await StoredState.SettleAsync(tenant.App, tenant.Id);
        // The shared app sends no mail (no Dms__Mail__Host), so the mail row is written as the owner: what is checked here is
        // who may see it, which row-level security decides however it got there (tests/Dms.Tests/Notifications send real mail).
        await using (var owner = new NpgsqlConnection(tenant.App.OwnerConnectionString))
        {
            await owner.OpenAsync();
            // FORCE ROW LEVEL SECURITY holds the owner too: it writes as the tenant.
            await using var insert = new NpgsqlCommand("""
                SELECT set_config('app.tenant_id', @tenant::text, false);
                INSERT INTO mail_deliveries (tenant_id, id, user_id, source_id, kind, title, body, digest)
                VALUES (@tenant, gen_random_uuid(), @user, gen_random_uuid(), 'approval.rejected', 'rls', 'rls', true)
                """, owner);
            insert.Parameters.AddWithValue("tenant", tenant.Id);
            insert.Parameters.AddWithValue("user", member.UserId);
            await insert.ExecuteNonQueryAsync();
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
