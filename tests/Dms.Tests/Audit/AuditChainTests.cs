using System.Net;
using System.Text.Json;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Audit;

/// <summary>
/// Issue 18 item 1, ADR 0038: events are recorded with the business change without touching the chain head, and chained
/// in batches shortly after by every node's chainer: exactly once, gapless, verifiable; the unchained tail is reported,
/// and the database lets nobody change an event (sealing a pending one is the only update, and only with its true hash).
/// </summary>
public sealed class AuditChainTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private DmsApp App => fixture.Tenant.App;

    [Fact]
    public async Task Parallel_audited_writes_in_one_tenant_are_each_chained_exactly_once_in_a_gapless_valid_chain()
    {
        var tenant = await App.CreateTenantAsync();
        var db = App.Service<Db>();
        // 16 writers at once: uploads through HTTP and events recorded straight in their own transactions.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 3; i++)
            {
                using var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"p{w}-{i}.txt", Uploads.Text($"p{w}-{i}")));
                upload.EnsureSuccessStatusCode();
            }
            for (var i = 0; i < 20; i++)
            {
                await db.InTenantAsync(tenant.Id, (c, tx) => AuditTrail.RecordDetachedAsync(c, tx, AuditActor.System, "test.parallel", "test",
                    $"{w}-{i}", null, CancellationToken.None), CancellationToken.None);
            }
        })));

        var verify = await AuditChainWait.ChainedAsync(tenant);
        var (total, sealedCount, distinctSeqs, minSeq, maxSeq, head) = await ChainShapeAsync(tenant);
        (await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM audit_events WHERE action = 'test.parallel'")).ShouldBe(320);
        (await OwnerScalarAsync<long>(tenant, "SELECT count(DISTINCT entity_id) FROM audit_events WHERE action = 'test.parallel'")).ShouldBe(320);
        (await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM audit_events WHERE action = 'document.uploaded'")).ShouldBe(48);
        sealedCount.ShouldBe(total, "every event is chained");
        distinctSeqs.ShouldBe(total, "no seq is used twice");
        minSeq.ShouldBe(1);
        maxSeq.ShouldBe(total, "no seq is skipped");
        head.ShouldBe(total);
        verify.GetProperty("valid").GetBoolean().ShouldBeTrue();
        verify.GetProperty("checked").GetInt64().ShouldBe(total);
    }

    [Fact]
    public async Task Two_nodes_chaining_one_tenant_at_once_never_chain_an_event_twice_or_skip_one()
    {
        var tenant = await App.CreateTenantAsync();
        await using var nodeB = SecondNode(App);
        var chainers = new[] { App.Service<AuditChainer>(), nodeB.Services.GetRequiredService<AuditChainer>() };
        var db = App.Service<Db>();
        using var writing = new CancellationTokenSource();
        // Besides both nodes' own loops, two explicit chaining passes per node run back to back while the writers write.
        var racing = chainers.SelectMany(chainer => Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            var chained = 0;
            while (!writing.IsCancellationRequested)
            {
                chained += await chainer.ChainAsync(tenant.Id, CancellationToken.None);
                await Task.Delay(2);
            }
            return chained;
        }))).ToList();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                await db.InTenantAsync(tenant.Id, (c, tx) => AuditTrail.RecordDetachedAsync(c, tx, AuditActor.System, "test.race", "test",
                    $"{w}-{i}", null, CancellationToken.None), CancellationToken.None);
            }
        })));
        await writing.CancelAsync();
        // Every explicit pass succeeded: a chainer that found its events taken, or a seq used, would have thrown.
        (await Task.WhenAll(racing)).Sum().ShouldBeGreaterThan(0);

        var verify = await AuditChainWait.ChainedAsync(tenant);
        var (total, sealedCount, distinctSeqs, minSeq, maxSeq, head) = await ChainShapeAsync(tenant);
        (await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM audit_events WHERE action = 'test.race'")).ShouldBe(320);
        sealedCount.ShouldBe(total);
        distinctSeqs.ShouldBe(total);
        (minSeq, maxSeq, head).ShouldBe((1L, total, total));
        verify.GetProperty("valid").GetBoolean().ShouldBeTrue();
        verify.GetProperty("checked").GetInt64().ShouldBe(total);
    }

    [Fact]
    public async Task Writes_never_wait_for_the_chain_head_and_verify_reports_the_unchained_tail_until_it_is_chained()
    {
        var tenant = await App.CreateTenantAsync();
        var before = (await AuditChainWait.ChainedAsync(tenant)).GetProperty("checked").GetInt64();

        // Hold the tenant's head as a chainer would, for as long as this test likes: chaining stops, recording must not.
        await using var holder = await OwnerConnectionAsync(tenant);
        await using var hold = await holder.BeginTransactionAsync();
        await using (var lockHead = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant.Id}', true); SELECT last_seq FROM audit_heads WHERE tenant_id = '{tenant.Id}' FOR UPDATE", holder, hold))
        {
            await lockHead.ExecuteNonQueryAsync();
        }
        using (var quick = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            for (var i = 0; i < 3; i++)
            {
                using var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"tail{i}.txt", Uploads.Text($"tail {i}"), title: $"tail {i}"), quick.Token);
                upload.EnsureSuccessStatusCode();
            }
        }
        var pending = await OwnerScalarAsync<long>(tenant, "SELECT count(*) FROM audit_events WHERE seq IS NULL");
        pending.ShouldBeGreaterThanOrEqualTo(3);

        var tail = await (await tenant.Admin.Client.GetAsync("/api/v1/audit/verify")).JsonAsync();
        tail.GetProperty("valid").GetBoolean().ShouldBeTrue("a pending tail is not a broken chain");
        tail.GetProperty("checked").GetInt64().ShouldBe(before);
        tail.GetProperty("unchained").GetInt64().ShouldBe(pending);
        tail.GetProperty("oldestUnchainedSeconds").GetDouble().ShouldBeGreaterThan(0);

        // The list shows the pending events first, marked, and pages through them into the chain without a gap.
        var first = await (await tenant.Admin.Client.GetAsync("/api/v1/audit?limit=2")).JsonAsync();
        var firstItems = first.GetProperty("items").EnumerateArray().ToList();
        firstItems.ShouldAllBe(e => e.GetProperty("pending").GetBoolean() && e.GetProperty("seq").ValueKind == JsonValueKind.Null);
        var all = new List<JsonElement>(firstItems);
        var cursor = first.GetProperty("nextCursor").GetString();
        while (cursor is not null)
        {
            var page = await (await tenant.Admin.Client.GetAsync($"/api/v1/audit?limit=2&cursor={cursor}")).JsonAsync();
            all.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.GetProperty("nextCursor").GetString();
        }
        all.Count.ShouldBe((int)(before + pending));
        all.Take((int)pending).ShouldAllBe(e => e.GetProperty("pending").GetBoolean());
        all.Take((int)pending).Where(e => e.GetProperty("action").GetString() == "document.uploaded")
            .Select(e => e.GetProperty("data").GetProperty("title").GetString()).ShouldBe(["tail 2", "tail 1", "tail 0"], "newest recorded first");
        all.Select(e => e.GetProperty("id").GetGuid()).Distinct().Count().ShouldBe(all.Count);
        all.Skip((int)pending).Select(e => e.GetProperty("seq").GetInt64()).ShouldBe(Enumerable.Range(1, (int)before).Select(i => (long)i).Reverse());
        await (await tenant.Admin.Client.GetAsync("/api/v1/audit?cursor=p0")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_cursor");

        // The export puts them after the chain, marked too.
        var exported = (await (await tenant.Admin.Client.GetAsync("/api/v1/audit/export?format=ndjson")).Content.ReadAsStringAsync())
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        exported.TakeLast((int)pending).ShouldAllBe(e => e.GetProperty("pending").GetBoolean());
        exported.SkipLast((int)pending).Select(e => e.GetProperty("seq").GetInt64()).ShouldBe(Enumerable.Range(1, (int)before).Select(i => (long)i));
        var csv = (await (await tenant.Admin.Client.GetAsync("/api/v1/audit/export?format=csv")).Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        csv[0].ShouldEndWith(",pending");
        csv[^1].ShouldStartWith(",");
        csv[^1].ShouldEndWith(",true");

        // A checkpoint anchors only the chained head.
        var anchor = await App.Service<AuditCheckpoints>().CheckpointAsync(tenant.Id, CancellationToken.None)
            ?? (await App.Service<AuditCheckpoints>().LatestAsync(tenant.Id, CancellationToken.None))!.Checkpoint!;
        anchor.Sequence.ShouldBe(before);

        await hold.RollbackAsync();
        var chained = await AuditChainWait.ChainedAsync(tenant);
        chained.GetProperty("valid").GetBoolean().ShouldBeTrue();
        chained.GetProperty("checked").GetInt64().ShouldBe(before + pending);
        chained.GetProperty("anchored").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task Nobody_changes_an_event_and_a_pending_one_is_only_ever_sealed_with_its_true_hash()
    {
        var tenant = await App.CreateTenantAsync();
        await using var owner = await OwnerConnectionAsync(tenant);
        await using var tx = await owner.BeginTransactionAsync();
        await ExecAsync(owner, tx, $"SELECT set_config('app.tenant_id', '{tenant.Id}', true)");
        // Recorded (uncommitted, so no chainer sees it): the owner, with the append-only trigger in place, tries its edits.
        var id = await ExecScalarAsync<Guid>(owner, tx, "SELECT audit_append('system', NULL, 'test', 'test.sealed', 'test', 'x', '{\"n\":1}', NULL, NULL, NULL)");
        string[] refused =
        [
            $"UPDATE audit_events SET action = 'forged' WHERE id = '{id}'",
            $"UPDATE audit_events SET seq = 999, prev_hash = repeat('0', 64), hash = repeat('a', 64) WHERE id = '{id}'",
            // A true hash, but of altered content: sealing never changes what the event says.
            $$"""
            UPDATE audit_events e SET data = '{"n":2}', seq = 999, prev_hash = repeat('0', 64),
              hash = audit_link(repeat('0', 64), ROW(e.id, e.tenant_id, 999::bigint, e.occurred_at, e.actor_type, e.actor_id, e.actor_label, e.action,
                e.entity_type, e.entity_id, '{"n":2}'::jsonb, e.client_ip, e.user_agent, e.correlation_id, repeat('0', 64), NULL, e.recorded)::audit_events)
            WHERE id = '{{id}}'
            """,
            $"DELETE FROM audit_events WHERE id = '{id}'",
        ];
        foreach (var sql in refused)
        {
            await ExecAsync(owner, tx, "SAVEPOINT s");
            var ex = await Should.ThrowAsync<PostgresException>(() => ExecAsync(owner, tx, sql));
            ex.MessageText.ShouldContain("append-only", customMessage: sql);
            await ExecAsync(owner, tx, "ROLLBACK TO SAVEPOINT s");
        }
        // The chaining function seals it, with the hash verify recomputes.
        await ExecScalarAsync<long>(owner, tx, "SELECT count(*) FROM audit_chain(100)");
        (await ExecScalarAsync<bool>(owner, tx, $"SELECT seq IS NOT NULL AND hash = audit_link(prev_hash, e) AND data = '{{\"n\":1}}' FROM audit_events e WHERE id = '{id}'")).ShouldBeTrue();
        await tx.RollbackAsync();

        // The runtime role cannot seal (or otherwise update) an event itself.
        await using var app = new NpgsqlConnection(App.AppConnectionString);
        await app.OpenAsync();
        await using var appTx = await app.BeginTransactionAsync();
        await ExecAsync(app, appTx, $"SELECT set_config('app.tenant_id', '{tenant.Id}', true)");
        var denied = await Should.ThrowAsync<PostgresException>(() => ExecAsync(app, appTx, "UPDATE audit_events SET seq = 1, prev_hash = 'x', hash = 'x' WHERE seq IS NULL"));
        denied.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }

    /// <summary>An API-only node on the same database: its own chainer, listener and connection pool.</summary>
    // The tenant move's two-part check (ADR 0041): the prefix before the freeze, then only the tail after its last link.
    [Fact]
    public async Task Verification_from_a_checked_link_walks_only_the_tail_and_catches_a_link_that_is_not_the_chains()
    {
        var tenant = await App.CreateTenantAsync();
        var db = App.Service<Db>();
        async Task RecordAsync(string prefix, int count)
        {
            for (var i = 0; i < count; i++)
            {
                await db.InTenantAsync(tenant.Id, (c, tx) => AuditTrail.RecordDetachedAsync(c, tx, AuditActor.System, "test.two_part", "test",
                    $"{prefix}-{i}", null, CancellationToken.None), CancellationToken.None);
            }
            await AuditChainWait.ChainedAsync(tenant);
        }
        var source = App.Service<NpgsqlDataSource>();
        var checkpoints = App.Service<AuditCheckpoints>();

        await RecordAsync("prefix", 10);
        var (prefix, link) = await AuditVerification.VerifyAsync(source, checkpoints, tenant.Id, after: null, checkAnchor: false, CancellationToken.None);
        prefix.Valid.ShouldBeTrue();
        link.ShouldNotBeNull();
        link.Value.Seq.ShouldBe(prefix.Checked);

        await RecordAsync("tail", 5);
        var (tail, tailLink) = await AuditVerification.VerifyAsync(source, checkpoints, tenant.Id, link, checkAnchor: true, CancellationToken.None);
        var whole = await AuditVerification.VerifyAsync(source, checkpoints, tenant.Id, CancellationToken.None);
        tail.Valid.ShouldBeTrue(tail.Problem);
        tail.Checked.ShouldBe(whole.Checked, "the tail's count continues from the link");
        tailLink!.Value.Seq.ShouldBe(whole.Checked);

        // A link whose hash is not the chain's breaks at the first event after it; one past the head leaves the head unmatched.
        var (wrongHash, _) = await AuditVerification.VerifyAsync(source, checkpoints, tenant.Id, (link.Value.Seq, new string('f', 64)), checkAnchor: true, CancellationToken.None);
        (wrongHash.Valid, wrongHash.Problem, wrongHash.FirstBrokenSeq).ShouldBe((false, "broken_link", link.Value.Seq + 1));
        var (pastHead, _) = await AuditVerification.VerifyAsync(source, checkpoints, tenant.Id, (whole.Checked + 1, tailLink.Value.Hash), checkAnchor: true, CancellationToken.None);
        (pastHead.Valid, pastHead.Problem).ShouldBe((false, "head_mismatch"));
    }

    private static WebApplicationFactory<Program> SecondNode(DmsApp app)
    {
        var node = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Dms:Role", "api");
            builder.UseSetting("ConnectionStrings:Dms", app.AppConnectionString);
            builder.UseSetting("ConnectionStrings:DmsOwner", app.OwnerConnectionString);
            builder.UseSetting("Dms:DataDirectory", app.DataDirectory);
            builder.UseSetting("Dms:Platform:ApiKey", DmsApp.PlatformKey);
            builder.UseSetting("Dms:Previews:Enabled", "false");
            builder.UseSetting("Dms:Metrics:SampleInterval", "01:00:00");
            builder.UseSetting("Logging:LogLevel:Default", "Warning");
        });
        _ = node.Server;
        return node;
    }

    private static async Task<(long Total, long Sealed, long DistinctSeqs, long MinSeq, long MaxSeq, long Head)> ChainShapeAsync(TestTenant tenant)
    {
        await using var conn = await OwnerConnectionAsync(tenant);
        await using var cmd = new NpgsqlCommand($"""
            SELECT set_config('app.tenant_id', '{tenant.Id}', false);
            SELECT count(*), count(seq), count(DISTINCT seq), coalesce(min(seq), 0), coalesce(max(seq), 0),
                   (SELECT last_seq FROM audit_heads WHERE tenant_id = '{tenant.Id}')
            FROM audit_events WHERE tenant_id = '{tenant.Id}'
            """, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.NextResultAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5));
    }

    private static async Task<NpgsqlConnection> OwnerConnectionAsync(TestTenant tenant)
    {
        var conn = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    private static async Task<T> OwnerScalarAsync<T>(TestTenant tenant, string sql)
    {
        await using var conn = await OwnerConnectionAsync(tenant);
        await using var tx = await conn.BeginTransactionAsync();
        await ExecAsync(conn, tx, $"SELECT set_config('app.tenant_id', '{tenant.Id}', true)");
        return await ExecScalarAsync<T>(conn, tx, sql);
    }

    private static async Task ExecAsync(NpgsqlConnection c, NpgsqlTransaction tx, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, c, tx);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<T> ExecScalarAsync<T>(NpgsqlConnection c, NpgsqlTransaction tx, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, c, tx);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }
}
