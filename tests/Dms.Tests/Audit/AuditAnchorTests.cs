using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Reconciliation;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Audit;

/// <summary>
/// Chain heads are anchored outside the database: an owner who cuts or recomputes the chain so that every link
/// matches again is still caught by the signed checkpoint, and a checkpoint not signed with the key is refused.
/// </summary>
public sealed class AuditAnchorTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task A_checkpoint_anchors_the_head_once_and_verify_reports_events_cut_after_it()
    {
        var (tenant, checkpoints) = await FreshTenantAsync();
        var written = await AnchorAsync(tenant, checkpoints);
        var head = await HeadAsync(tenant);
        written.Sequence.ShouldBe(head);
        (await checkpoints.CheckpointAsync(tenant.Id, CancellationToken.None)).ShouldBeNull("the head did not move");

        var verify = await VerifyAsync(tenant);
        verify.GetProperty("valid").GetBoolean().ShouldBeTrue();
        verify.GetProperty("anchored").GetBoolean().ShouldBeTrue();
        verify.GetProperty("checkpoint").GetProperty("sequence").GetInt64().ShouldBe(head);
        verify.GetProperty("problem").ValueKind.ShouldBe(JsonValueKind.Null);

        // The owner removes the last two events and moves the head back: every remaining link still matches.
        await OwnerAsync(tenant,
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            $"DELETE FROM audit_events WHERE tenant_id = '{tenant.Id}' AND seq > {head - 2}",
            $"UPDATE audit_heads h SET last_seq = e.seq, last_hash = e.hash FROM audit_events e WHERE h.tenant_id = '{tenant.Id}' AND e.tenant_id = h.tenant_id AND e.seq = {head - 2}",
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only");

        var cut = await VerifyAsync(tenant);
        cut.GetProperty("valid").GetBoolean().ShouldBeFalse();
        cut.GetProperty("problem").GetString().ShouldBe("truncated");
        cut.GetProperty("checked").GetInt64().ShouldBe(head - 2);
        cut.GetProperty("firstBrokenSeq").GetInt64().ShouldBe(head - 1);
        cut.GetProperty("anchored").GetBoolean().ShouldBeFalse();
    }

    [Fact]
    public async Task An_event_rewritten_before_the_checkpoint_with_the_chain_recomputed_is_reported_and_never_re_anchored()
    {
        var (tenant, checkpoints) = await FreshTenantAsync();
        await AnchorAsync(tenant, checkpoints);
        await UploadAsync(tenant, "after the checkpoint");
        await AuditChainWait.ChainedAsync(tenant);
        var victim = (await (await tenant.Admin.Client.GetAsync("/api/v1/audit?action=document.uploaded")).JsonAsync())
            .GetProperty("items").EnumerateArray().Last().GetProperty("seq").GetInt64(); // the oldest upload: before the checkpoint

        // Rewrite history, then recompute every later link and the head so the chain is self-consistent.
        await OwnerAsync(tenant,
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            $"UPDATE audit_events SET data = jsonb_set(data, '{{title}}', '\"innocent\"') WHERE tenant_id = '{tenant.Id}' AND seq = {victim}",
            $"""
            DO $$
            DECLARE r audit_events; prev text;
            BEGIN
              SELECT prev_hash INTO prev FROM audit_events WHERE tenant_id = '{tenant.Id}' AND seq = {victim};
              FOR r IN SELECT * FROM audit_events WHERE tenant_id = '{tenant.Id}' AND seq >= {victim} ORDER BY seq LOOP
                r.prev_hash := prev;
                r.hash := audit_link(prev, r);
                UPDATE audit_events SET prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
                prev := r.hash;
              END LOOP;
              UPDATE audit_heads SET last_hash = prev WHERE tenant_id = '{tenant.Id}';
            END
            $$
            """,
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only");

        var verify = await VerifyAsync(tenant);
        verify.GetProperty("valid").GetBoolean().ShouldBeFalse();
        verify.GetProperty("problem").GetString().ShouldBe("tail_rewritten");
        verify.GetProperty("firstBrokenEventId").ValueKind.ShouldBe(JsonValueKind.Null, "every link matches: only the anchor shows the rewrite");

        await UploadAsync(tenant, "the head moves on");
        await AuditChainWait.ChainedAsync(tenant);
        (await checkpoints.CheckpointAsync(tenant.Id, CancellationToken.None)).ShouldBeNull("a tampered chain must not be re-anchored");
        (await VerifyAsync(tenant)).GetProperty("problem").GetString().ShouldBe("tail_rewritten");
    }

    [Fact]
    public async Task A_checkpoint_with_a_bad_signature_is_reported_and_blocks_new_checkpoints()
    {
        var (tenant, checkpoints) = await FreshTenantAsync();
        var genuine = await AnchorAsync(tenant, checkpoints);
        await UploadAsync(tenant, "more");
        await AuditChainWait.ChainedAsync(tenant);
        var head = await HeadAsync(tenant);

        // Whoever can write the store but lacks the key: a plausible checkpoint, signed with another key.
        var forged = genuine with { Sequence = head, Hash = new string('a', 64) };
        forged = forged with { Signature = Convert.ToBase64String(HMACSHA256.HashData(RandomNumberGenerator.GetBytes(32), Encoding.UTF8.GetBytes(forged.SignedText()))) };
        await using (var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(forged, Json)))
        {
            await tenant.App.Service<IBlobStore>().PutAsync(BlobKeys.ForAuditCheckpoint(tenant.Id, head), content, CancellationToken.None);
        }

        var verify = await VerifyAsync(tenant);
        verify.GetProperty("valid").GetBoolean().ShouldBeFalse();
        verify.GetProperty("problem").GetString().ShouldBe("checkpoint_invalid");
        verify.GetProperty("checkpoint").GetProperty("sequence").GetInt64().ShouldBe(head);
        (await checkpoints.CheckpointAsync(tenant.Id, CancellationToken.None)).ShouldBeNull();

        // The genuine one, copied to a later sequence, does not verify either: the sequence is signed.
        await using (var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(genuine, Json)))
        {
            await tenant.App.Service<IBlobStore>().PutAsync(BlobKeys.ForAuditCheckpoint(tenant.Id, head + 1), content, CancellationToken.None);
        }
        (await VerifyAsync(tenant)).GetProperty("problem").GetString().ShouldBe("checkpoint_invalid");
    }

    [Fact]
    public async Task Without_a_checkpoint_verify_says_the_chain_is_not_anchored_yet()
    {
        var (tenant, _) = await FreshTenantAsync();
        var verify = await VerifyAsync(tenant);
        verify.GetProperty("valid").GetBoolean().ShouldBeTrue();
        verify.GetProperty("anchored").GetBoolean().ShouldBeFalse();
        verify.GetProperty("checkpoint").ValueKind.ShouldBe(JsonValueKind.Null);
        verify.GetProperty("unanchoredEvents").GetInt64().ShouldBe(verify.GetProperty("checked").GetInt64());
    }

    /// <summary>A tenant of its own per test: the tests tamper with its chain.</summary>
    private async Task<(TestTenant Tenant, AuditCheckpoints Checkpoints)> FreshTenantAsync()
    {
        var tenant = await fixture.Tenant.App.CreateTenantAsync();
        for (var i = 0; i < 3; i++)
        {
            await UploadAsync(tenant, $"anchored {i}");
        }
        await AuditChainWait.ChainedAsync(tenant);
        return (tenant, tenant.App.Service<AuditCheckpoints>());
    }

    /// <summary>Anchors the head now; the shared app's own worker may just have done it.</summary>
    private static async Task<AuditCheckpoint> AnchorAsync(TestTenant tenant, AuditCheckpoints checkpoints) =>
        await checkpoints.CheckpointAsync(tenant.Id, CancellationToken.None)
            ?? (await checkpoints.LatestAsync(tenant.Id, CancellationToken.None)).ShouldNotBeNull().Checkpoint.ShouldNotBeNull();

    private static async Task UploadAsync(TestTenant tenant, string text)
    {
        using var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"{Guid.NewGuid():N}.txt", Uploads.Text(text), title: text));
        upload.EnsureSuccessStatusCode();
    }

    private static async Task<JsonElement> VerifyAsync(TestTenant tenant) =>
        await (await tenant.Admin.Client.GetAsync("/api/v1/audit/verify")).JsonAsync();

    private static async Task<long> HeadAsync(TestTenant tenant)
    {
        await using var conn = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant.Id}', false); SELECT last_seq FROM audit_heads WHERE tenant_id = '{tenant.Id}'", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.NextResultAsync();
        await reader.ReadAsync();
        return reader.GetInt64(0);
    }

    internal static async Task OwnerAsync(TestTenant tenant, params string[] statements)
    {
        await using var conn = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant.Id}', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        foreach (var sql in statements)
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            await cmd.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
    }
}

/// <summary>The same anchoring on the S3 store (moto): keys listed by prefix, read back and verified.</summary>
public sealed class AuditAnchorS3Tests
{
    [Fact]
    public async Task Checkpoints_on_s3_anchor_the_chain_and_catch_a_cut()
    {
        var app = await DmsApp.GetS3Async();
        var tenant = await app.CreateTenantAsync();
        using (var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("s3.txt", Uploads.Text("s3"))))
        {
            upload.EnsureSuccessStatusCode();
        }
        await AuditChainWait.ChainedAsync(tenant);
        var checkpoints = app.Service<AuditCheckpoints>();
        var anchor = await checkpoints.CheckpointAsync(tenant.Id, CancellationToken.None)
            ?? (await checkpoints.LatestAsync(tenant.Id, CancellationToken.None)).ShouldNotBeNull().Checkpoint.ShouldNotBeNull();
        var verify = await (await tenant.Admin.Client.GetAsync("/api/v1/audit/verify")).JsonAsync();
        verify.GetProperty("anchored").GetBoolean().ShouldBeTrue();
        verify.GetProperty("checkpoint").GetProperty("sequence").GetInt64().ShouldBe(anchor.Sequence);

        await AuditAnchorTests.OwnerAsync(tenant,
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
            $"DELETE FROM audit_events WHERE tenant_id = '{tenant.Id}' AND seq = {anchor.Sequence}",
            $"UPDATE audit_heads h SET last_seq = e.seq, last_hash = e.hash FROM audit_events e WHERE h.tenant_id = '{tenant.Id}' AND e.tenant_id = h.tenant_id AND e.seq = {anchor.Sequence - 1}",
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only");
        (await (await tenant.Admin.Client.GetAsync("/api/v1/audit/verify")).JsonAsync()).GetProperty("problem").GetString().ShouldBe("truncated");
    }
}

/// <summary>Worker nodes anchor heads on their own, only when a head moved; the checkpoints survive storage reconciliation.</summary>
public sealed class AuditCheckpointWorkerTests : IAsyncLifetime
{
    private DmsApp _app = null!;

    public async Task InitializeAsync() => _app = await DmsApp.CreateIsolatedAsync($"anchor_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
    {
        ["Dms:Audit:CheckpointInterval"] = "00:00:00.200",
    });

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task The_worker_writes_a_checkpoint_when_the_head_moves_and_reconciliation_keeps_it()
    {
        var tenant = await _app.CreateTenantAsync();
        var blobs = _app.Service<IBlobStore>();
        var first = await WaitForAnchoredHeadAsync(tenant, blobs);

        await Task.Delay(1000); // five intervals with nothing new to anchor
        (await KeysAsync(blobs, tenant.Id)).Count.ShouldBe(first.Count, "no checkpoint is written while the head stands still");

        using (var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("moved.txt", Uploads.Text("moved"))))
        {
            upload.EnsureSuccessStatusCode();
        }
        var second = await WaitForAnchoredHeadAsync(tenant, blobs);
        second.Count.ShouldBeGreaterThan(first.Count);

        // Not a document's file, yet never an orphan: reconciliation with no grace period leaves them alone.
        for (var attempt = 0; attempt < 200 && (await _app.Service<StorageReconciler>().RunOnceAsync(TimeSpan.Zero, CancellationToken.None)).Skipped; attempt++)
        {
            await Task.Delay(50);
        }
        (await KeysAsync(blobs, tenant.Id)).ShouldBe(second);
    }

    /// <summary>Waits until every event is chained and the newest checkpoint is the tenant's head (its sign-in may land after a first checkpoint).</summary>
    private static async Task<List<string>> WaitForAnchoredHeadAsync(TestTenant tenant, IBlobStore blobs)
    {
        for (var i = 0; i < 200; i++)
        {
            var verify = await (await tenant.Admin.Client.GetAsync("/api/v1/audit/verify")).JsonAsync();
            if (verify.GetProperty("anchored").GetBoolean() && verify.GetProperty("unanchoredEvents").GetInt64() == 0 && verify.GetProperty("unchained").GetInt64() == 0)
            {
                return await KeysAsync(blobs, tenant.Id);
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("The head was not anchored within 10 s.");
    }

    private static async Task<List<string>> KeysAsync(IBlobStore blobs, Guid tenant)
    {
        var keys = new List<string>();
        await foreach (var blob in blobs.ListAsync(BlobKeys.AuditCheckpointPrefix(tenant), CancellationToken.None))
        {
            keys.Add(blob.Key);
        }
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }
}
