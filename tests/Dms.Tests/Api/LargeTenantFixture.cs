using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// A tenant large enough for the planner to choose as it would in production (issue 12, item 7), in a database of its
/// own: 200,000 documents in four big workspaces and one small one, folders, tags, 5,000 users with partial workspace
/// membership, approval requests, audit events and notifications, and a second tenant with data of its own. Seeded
/// in SQL as the owner under the tenant's setting (FORCE RLS holds the owner too), then analysed.
/// <see cref="ExplainAsync"/> plans a query as the runtime role and returns a <see cref="PlanCheck"/>.
/// </summary>
public sealed class LargeTenantFixture : IAsyncLifetime
{
    public const int DocumentCount = 200_000;
    public const int Users = 5_000;
    public const int Approvals = 20_000;
    public const int AuditEvents = 200_000;
    public const int Notifications = 100_000;

    /// <summary>The tables the check never lets the planner scan whole.</summary>
    public static readonly IReadOnlySet<string> BigTables = new HashSet<string>(StringComparer.Ordinal)
    {
        "documents", "document_versions", "document_tags", "document_search", "approval_requests", "audit_events", "notifications", "workspace_members",
    };

    // Seconds, for a loaded CI machine; the whole seed takes well under a minute on an idle one.
    private const int Timeout = 600;

    private DmsApp _app = null!;

    public Guid Tenant { get; private set; }
    public Guid OtherTenant { get; private set; }
    public Guid Admin { get; private set; }

    /// <summary>A member who may read only <see cref="SmallWorkspace"/>, which holds one document among 200,000.</summary>
    public Guid Member { get; private set; }

    public Guid SmallWorkspace { get; } = Guid.NewGuid();
    public IReadOnlyList<Guid> BigWorkspaces { get; private set; } = [];
    public Guid Folder { get; private set; }
    public Guid SomeDocument { get; private set; }
    public Guid SomeApprovalDocument { get; private set; }

    /// <summary>A key of the list half way down the tenant (created_at, id), for deep cursor pages.</summary>
    public (DateTime CreatedAt, Guid Id) Middle { get; private set; }

    public TimeSpan SeedTime { get; private set; }

    /// <summary>For tests that add data of their own once (as the owner, under the tenant's setting), e.g. document field values.</summary>
    public string OwnerConnectionString => _app.OwnerConnectionString;

    internal CurrentUser AdminUser => new(Admin, Tenant, Roles.Admin, "admin@example.test");
    internal CurrentUser MemberUser => new(Member, Tenant, Roles.Member, "member@example.test");

    public async Task InitializeAsync()
    {
        _app = await DmsApp.CreateIsolatedAsync($"large_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>());
        var tenant = await _app.CreateTenantAsync();
        var other = await _app.CreateTenantAsync();
        Tenant = tenant.Id;
        OtherTenant = other.Id;
        var watch = Stopwatch.StartNew();
        await using var owner = new NpgsqlConnection(_app.OwnerConnectionString);
        await owner.OpenAsync();
        BigWorkspaces = [tenant.DefaultWorkspaceId, Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid()];
        Admin = await SeedTenantAsync(owner, Tenant, [.. BigWorkspaces], DocumentCount, withSmallWorkspace: true);
        await SeedTenantAsync(owner, OtherTenant, [other.DefaultWorkspaceId], DocumentCount / 10, withSmallWorkspace: false);
        foreach (var table in new[] { "documents", "document_versions", "document_tags", "document_search", "workspace_members", "users", "approval_requests", "audit_events", "notifications", "folders" })
        {
            await owner.ExecuteAsync(new CommandDefinition($"ANALYZE {table}", commandTimeout: Timeout));
        }
        SeedTime = watch.Elapsed;
        Console.WriteLine($"LargeTenantFixture: seeded and analysed in {SeedTime.TotalSeconds:F1} s");
    }

    /// <summary>Seeds one tenant; returns its first admin.</summary>
    private async Task<Guid> SeedTenantAsync(NpgsqlConnection owner, Guid tenant, Guid[] workspaces, int documents, bool withSmallWorkspace)
    {
        await using var tx = await owner.BeginTransactionAsync();
        await Db.EnterTenantAsync(owner, tx, tenant, CancellationToken.None);
        var admin = await owner.ExecuteScalarAsync<Guid>("SELECT id FROM users WHERE tenant_id = @tenant AND role = 'Admin' LIMIT 1", new { tenant }, tx);
        var p = new { tenant, admin, workspaces, documents, users = Users, approvals = Approvals, events = AuditEvents, notifications = Notifications, small = SmallWorkspace };
        await owner.ExecuteAsync(new CommandDefinition("""
            INSERT INTO workspaces (id, tenant_id, name, created_by)
            SELECT w, @tenant, 'Workspace ' || w, @admin FROM unnest(@workspaces) w WHERE w NOT IN (SELECT id FROM workspaces WHERE tenant_id = @tenant);
            INSERT INTO folders (id, tenant_id, workspace_id, name, created_by)
            SELECT gen_random_uuid(), @tenant, @workspaces[array_length(@workspaces, 1)], 'Folder ' || f, @admin FROM generate_series(1, 100) f;
            INSERT INTO users (id, tenant_id, email, email_normalized, display_name, password_hash, role)
            SELECT gen_random_uuid(), @tenant, 'u' || g || '@example.test', 'u' || g || '@example.test', 'User ' || g, 'not-a-hash', 'Member'
            FROM generate_series(1, @users) g;
            -- Partial membership: each seeded user in two of the big workspaces.
            INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role, created_by)
            SELECT @tenant, @workspaces[1 + (u.n + k) % array_length(@workspaces, 1)], u.id, 'Contributor', @admin
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE tenant_id = @tenant AND password_hash = 'not-a-hash') u,
                 generate_series(0, least(1, array_length(@workspaces, 1) - 1)) k;
            """, p, tx, Timeout));
        // Documents: newest first in id order; tags 'tagN' (1 in 20) and 'rareN' (1 in 5,000); no image in the big
        // workspaces, so type=image finds one document; every 100th is deleted, 20 are PendingDelete.
        // The tag trigger is off for the bulk insert (one statement fills document_tags after); the API tests drive it.
        await owner.ExecuteAsync(new CommandDefinition("""
            ALTER TABLE documents DISABLE TRIGGER documents_tags_sync;
            ALTER TABLE documents DISABLE TRIGGER documents_search;
            WITH fo AS (SELECT array_agg(id ORDER BY id) AS ids FROM folders WHERE tenant_id = @tenant),
            docs AS (
              INSERT INTO documents (id, tenant_id, workspace_id, folder_id, title, status, tags, current_version, content_family,
                                     created_at, created_by, updated_at, updated_by)
              SELECT gen_random_uuid(), @tenant, @workspaces[1 + g % array_length(@workspaces, 1)],
                     CASE WHEN g % array_length(@workspaces, 1) = array_length(@workspaces, 1) - 1 AND g % 3 = 0
                          THEN fo.ids[1 + (g / 7) % 100] END,
                     (ARRAY['Invoice', 'Contract', 'Report', 'Minutes', 'Policy', 'Offer', 'Plan', 'Memo'])[1 + g % 8] || ' ' || g,
                     CASE WHEN g % (@documents / 20) = 7 THEN 'PendingDelete' WHEN g % 100 = 3 THEN 'Deleted' ELSE 'Active' END,
                     ARRAY['tag' || (g % 20), 'rare' || (g % 5000)], 1,
                     document_content_family((ARRAY['application/pdf', 'application/pdf', 'application/pdf', 'application/pdf',
                       'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'application/vnd.oasis.opendocument.text',
                       'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'text/plain', 'text/csv', 'text/markdown'])[1 + g % 10]),
                     now() - g * interval '10 seconds', @admin, now() - g * interval '10 seconds' + (g % 997) * interval '1 minute', @admin
              FROM generate_series(1, @documents) g, fo
              RETURNING id, created_at, content_family)
            INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_at, created_by)
            SELECT gen_random_uuid(), @tenant, docs.id, 1, @tenant || '/' || docs.id || '/1', 1000, repeat('a', 64),
                   CASE docs.content_family WHEN 'pdf' THEN 'application/pdf' WHEN 'text' THEN 'text/plain'
                        ELSE 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' END,
                   'seeded.bin', docs.created_at, @admin
            FROM docs;
            ALTER TABLE documents ENABLE TRIGGER documents_tags_sync;
            ALTER TABLE documents ENABLE TRIGGER documents_search;
            INSERT INTO document_search (tenant_id, document_id, workspace_id, folder_id, status, tags, title, created_at, config, title_tsv, all_tsv)
            SELECT d.tenant_id, d.id, d.workspace_id, d.folder_id, d.status, d.tags, d.title, d.created_at, 'dms_simple',
                   to_tsvector('dms_simple', d.title),
                   setweight(to_tsvector('dms_simple', d.title), 'A') || setweight(to_tsvector('dms_simple', array_to_string(d.tags, ' ')), 'B')
            FROM documents d WHERE d.tenant_id = @tenant;
            INSERT INTO document_tags (tenant_id, document_id, tag)
            SELECT d.tenant_id, d.id, t.tag FROM documents d, unnest(d.tags) t(tag) WHERE d.tenant_id = @tenant;
            """, p, tx, Timeout));
        if (withSmallWorkspace)
        {
            await owner.ExecuteAsync("""
                INSERT INTO workspaces (id, tenant_id, name, created_by) VALUES (@small, @tenant, 'Small', @admin);
                WITH d AS (
                  INSERT INTO documents (id, tenant_id, workspace_id, title, tags, current_version, content_family, created_at, created_by, updated_by)
                  VALUES (gen_random_uuid(), @tenant, @small, 'The only one', ARRAY['only'], 1, 'image', now() - interval '400 days', @admin, @admin)
                  RETURNING id)
                INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
                SELECT gen_random_uuid(), @tenant, d.id, 1, @tenant || '/' || d.id || '/1', 3, repeat('a', 64), 'image/png', 'one.png', @admin FROM d;
                """, p, tx);
            Member = await owner.ExecuteScalarAsync<Guid>("""
                INSERT INTO users (id, tenant_id, email, email_normalized, display_name, password_hash, role)
                VALUES (gen_random_uuid(), @tenant, 'member@example.test', 'member@example.test', 'Member', 'not-a-hash', 'Member') RETURNING id
                """, p, tx);
            await owner.ExecuteAsync(
                "INSERT INTO workspace_members (tenant_id, workspace_id, user_id, role, created_by) VALUES (@tenant, @small, @member, 'Viewer', @admin)",
                new { tenant, small = SmallWorkspace, member = Member, admin }, tx);
            Folder = await owner.ExecuteScalarAsync<Guid>("SELECT folder_id FROM documents WHERE tenant_id = @tenant AND folder_id IS NOT NULL LIMIT 1", p, tx);
            var middle = await owner.QuerySingleAsync<(DateTime, Guid)>(
                "SELECT created_at, id FROM documents WHERE tenant_id = @tenant ORDER BY created_at DESC, id DESC OFFSET @half LIMIT 1",
                new { tenant, half = DocumentCount / 2 }, tx);
            Middle = middle;
            SomeDocument = middle.Item2;
        }
        // Approval requests on every 10th document (a few still pending), by the seeded users; audit events; notifications.
        await owner.ExecuteAsync(new CommandDefinition("""
            CREATE TEMP TABLE seeded_users ON COMMIT DROP AS
            SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE tenant_id = @tenant AND email LIKE 'u%';
            INSERT INTO approval_requests (id, tenant_id, document_id, type, status, requested_by, reason, based_on_version, created_at, expires_at)
            SELECT gen_random_uuid(), @tenant, d.id, 'Delete',
                   CASE WHEN d.n % 50 = 0 THEN 'Pending' WHEN d.n % 3 = 0 THEN 'Rejected' ELSE 'Executed' END,
                   u.ids[1 + d.n % @users], 'seeded', 1, d.created_at, d.created_at + interval '7 days'
            FROM (SELECT id, created_at, row_number() OVER (ORDER BY created_at DESC) AS n FROM documents WHERE tenant_id = @tenant) d, seeded_users u
            WHERE d.n % 10 = 0 AND d.n / 10 <= @approvals;
            -- The chainer seals pending events onto the same head: hold it while the seeded events take the next numbers.
            SELECT last_seq FROM audit_heads WHERE tenant_id = @tenant FOR UPDATE;
            INSERT INTO audit_events (id, tenant_id, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, entity_id, prev_hash, hash)
            SELECT gen_random_uuid(), @tenant, h.last_seq + g, now() - (@events - g) * interval '1 second', 'user',
                   u.ids[1 + g % @users], 'seeded user',
                   (ARRAY['document.uploaded', 'document.downloaded', 'document.updated', 'user.signed_in'])[1 + g % 4], 'document',
                   'seeded-' || (g % 50000), 'x', 'x'
            FROM audit_heads h, seeded_users u, generate_series(1, @events) g WHERE h.tenant_id = @tenant;
            UPDATE audit_heads SET last_seq = last_seq + @events WHERE tenant_id = @tenant;
            INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, dedupe_key, created_at, read_at)
            SELECT gen_random_uuid(), @tenant, u.ids[1 + g % @users], 'seeded', 'Seeded ' || g, 'Seeded', 'seeded-' || g, now() - g * interval '1 minute',
                   CASE WHEN g % 10 <> 0 THEN now() END
            FROM generate_series(1, @notifications) g, seeded_users u;
            INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, dedupe_key, created_at, read_at)
            SELECT gen_random_uuid(), @tenant, @admin, 'seeded', 'Seeded ' || g, 'Seeded', 'admin-' || g, now() - g * interval '1 minute',
                   CASE WHEN g % 10 <> 0 THEN now() END
            FROM generate_series(1, 2000) g;
            """, p, tx, Timeout));
        if (withSmallWorkspace)
        {
            SomeApprovalDocument = await owner.ExecuteScalarAsync<Guid>("SELECT document_id FROM approval_requests WHERE tenant_id = @tenant LIMIT 1", p, tx);
        }
        await tx.CommitAsync();
        return admin;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    /// <summary>
    /// <c>EXPLAIN (ANALYZE, FORMAT JSON)</c> of <paramref name="sql"/> as the runtime role, in the tenant. With
    /// <paramref name="breakWith"/> (DDL such as <c>DROP INDEX …</c>), as the owner (held to the same policies by FORCE)
    /// inside a transaction that is rolled back: the proof that the check depends on the index.
    /// </summary>
    /// <summary>
    /// The plan a query that returns its own plan as JSON gives (the search functions' <c>document_search_explain</c>, run
    /// as the owner, whose plan is the definer function's), in the tenant; <paramref name="breakWith"/> as above.
    /// </summary>
    public async Task<PlanCheck> PlanOfAsync(string name, string sql, object parameters, string? breakWith = null, int maxRowsRemoved = PlanCheck.MaxRowsRemoved)
    {
        await using var conn = new NpgsqlConnection(_app.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        if (breakWith is not null)
        {
            await conn.ExecuteAsync(breakWith, transaction: tx);
        }
        await Db.EnterTenantAsync(conn, tx, Tenant, CancellationToken.None);
        var json = await conn.QuerySingleAsync<string>(new CommandDefinition(sql, parameters, tx));
        await tx.RollbackAsync();
        return new PlanCheck(name, JsonDocument.Parse(json).RootElement[0].GetProperty("Plan").Clone(), maxRowsRemoved);
    }

    /// <summary>One row of <paramref name="sql"/> as the runtime role, in the tenant.</summary>
    public async Task<T> QueryAsRuntimeRoleAsync<T>(string sql, object parameters)
    {
        await using var conn = new NpgsqlConnection(_app.AppConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await Db.EnterTenantAsync(conn, tx, Tenant, CancellationToken.None);
        var result = await conn.QuerySingleAsync<T>(new CommandDefinition(sql, parameters, tx));
        await tx.RollbackAsync();
        return result;
    }

    public async Task<PlanCheck> ExplainAsync(string name, string sql, object parameters, string? breakWith = null)
    {
        await using var conn = new NpgsqlConnection(breakWith is null ? _app.AppConnectionString : _app.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        if (breakWith is not null)
        {
            await conn.ExecuteAsync(breakWith, transaction: tx);
        }
        await Db.EnterTenantAsync(conn, tx, Tenant, CancellationToken.None);
        var json = await conn.QuerySingleAsync<string>(new CommandDefinition($"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", parameters, tx));
        await tx.RollbackAsync();
        return new PlanCheck(name, JsonDocument.Parse(json).RootElement[0].GetProperty("Plan").Clone());
    }
}

[CollectionDefinition(Name)]
public sealed class LargeTenantGroup : ICollectionFixture<LargeTenantFixture>
{
    public const string Name = "Large tenant";
}

/// <summary>One query's plan, and the rule every query behind a page must keep at scale.</summary>
public sealed class PlanCheck(string name, JsonElement plan, int maxRowsRemoved = PlanCheck.MaxRowsRemoved)
{
    public const int MaxRowsRemoved = 1_000;

    public JsonElement Plan { get; } = plan;

    /// <summary>The nodes that break the rule: a sequential scan of a big table, or more than <see cref="MaxRowsRemoved"/> rows read and thrown away.</summary>
    public IReadOnlyList<string> Offences()
    {
        var found = new List<string>();
        Walk(Plan, found, maxRowsRemoved);
        return found;
    }

    /// <summary>Fails naming the query and printing each offending node, then the whole plan.</summary>
    public void ShouldStayIndexed()
    {
        var offences = Offences();
        if (offences.Count > 0)
        {
            throw new Xunit.Sdk.XunitException(
                $"Query '{name}' does not stay on its indexes at scale:\n{string.Join("\n", offences)}\n\nWhole plan:\n{Plan}");
        }
    }

    /// <summary>The plan reads <paramref name="index"/> (a scan node names it).</summary>
    public void ShouldUse(string index)
    {
        if (!Nodes(Plan).Any(n => n.TryGetProperty("Index Name", out var i) && i.GetString() == index))
        {
            throw new Xunit.Sdk.XunitException($"Query '{name}' does not use index {index}.\n\nWhole plan:\n{Plan}");
        }
    }

    private static IEnumerable<JsonElement> Nodes(JsonElement node)
    {
        yield return node;
        if (node.TryGetProperty("Plans", out var children))
        {
            foreach (var child in children.EnumerateArray().SelectMany(Nodes))
            {
                yield return child;
            }
        }
    }

    private static void Walk(JsonElement root, List<string> found, int maxRowsRemoved)
    {
        foreach (var node in Nodes(root))
        {
            var type = node.GetProperty("Node Type").GetString();
            var relation = node.TryGetProperty("Relation Name", out var r) ? r.GetString() : null;
            if (type == "Seq Scan" && relation is not null && LargeTenantFixture.BigTables.Contains(relation))
            {
                found.Add($"- Seq Scan on {relation}: {Describe(node)}");
            }
            // EXPLAIN shows the rows removed per loop; a probe repeated per outer row removes that many times over.
            var loops = node.TryGetProperty("Actual Loops", out var l) ? l.GetDouble() : 1;
            foreach (var key in new[] { "Rows Removed by Filter", "Rows Removed by Join Filter" })
            {
                if (node.TryGetProperty(key, out var removed) && removed.GetDouble() * Math.Max(loops, 1) > maxRowsRemoved)
                {
                    found.Add($"- {key}: {(removed.GetDouble() * Math.Max(loops, 1)).ToString("N0", CultureInfo.InvariantCulture)} (> {maxRowsRemoved:N0}) at {type}" +
                              $"{(relation is null ? "" : $" on {relation}")}: {Describe(node)}");
                }
            }
        }
    }

    /// <summary>The node without its children: type, relation, index, conditions, rows.</summary>
    private static string Describe(JsonElement node) =>
        string.Join(", ", node.EnumerateObject().Where(p => p.Name != "Plans").Select(p => $"{p.Name}: {p.Value}"));

    public override string ToString() => Plan.ToString();
}
