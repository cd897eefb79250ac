using System.Diagnostics.Metrics;
using Dapper;
using Dms.Modules.Approvals;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.Reconciliation;

internal sealed record ReconcileReport(int Tenants, int SessionsExpired, int SessionBlobsRemoved, int OrphansRemoved, bool Skipped, int ReservationsReleased = 0, long DeltasFolded = 0);

/// <summary>
/// Keeps storage and database in step: removes what expired, aborted or failed upload sessions left, and
/// any blob under a tenant's prefix that no version and no pending session references and that is older
/// than the grace period. A blob is only ever deleted after the database said nobody references it, and
/// every writer registers its key (as a pending session) before the first byte is stored, so a
/// referenced blob is never removed, however small the grace period. Sessions that ended give their storage
/// reservation back as they end (by trigger, expiry included); a completed session whose bytes neither became a version
/// nor are held by an open replace request has its reservation released here. A tenant whose storage counter gathered
/// <see cref="StorageUsage.FoldAt"/> deltas has them folded into its base row (ADR 0039), for tenants that stopped
/// uploading (purges and releases append deltas too) and whose reads would otherwise sum them for ever.
/// </summary>
internal sealed class StorageReconciler(Db db, IBlobStore blobs, IOptions<DmsOptions> options,
    TimeProvider clock, ILogger<StorageReconciler> logger)
{
    internal const long AdvisoryLockKey = 0x0D05_0002;
    private const int Batch = 500;
    private static readonly Meter Meter = new("Dms.Storage");
    private static readonly Counter<long> Removed = Meter.CreateCounter<long>("dms.storage.reconcile.removed", description: "Blobs removed by reconciliation");

    /// <summary>One pass; skipped when another node holds the reconciliation lock.</summary>
    public async Task<ReconcileReport> RunOnceAsync(TimeSpan? gracePeriod, CancellationToken ct)
    {
        var grace = gracePeriod ?? options.Value.Storage.OrphanGracePeriod;
        int expired = 0, sessionBlobs = 0, orphans = 0, released = 0;
        long folded = 0;
        var tenants = await db.ForEachTenantUnderLockAsync(AdvisoryLockKey, async (tenant, token) =>
        {
            var (e, s) = await CleanSessionsAsync(tenant, token);
            released += await ReleaseStaleReservationsAsync(tenant, token);
            expired += e;
            sessionBlobs += s;
            orphans += await RemoveOrphansAsync(tenant, grace, token);
            // Last and in a transaction of its own: after the releases above, and holding the base row only for the fold.
            folded += await db.InTenantAsync(tenant, (c, tx) => StorageUsage.FoldIfManyAsync(c, tx, tenant, token), token);
        }, ct);
        if (tenants is not { } count)
        {
            return new ReconcileReport(0, 0, 0, 0, Skipped: true);
        }
        var report = new ReconcileReport(count, expired, sessionBlobs, orphans, Skipped: false, released, folded);
        Removed.Add(sessionBlobs, new KeyValuePair<string, object?>("reason", "session"));
        Removed.Add(orphans, new KeyValuePair<string, object?>("reason", "orphan"));
        logger.LogInformation("Storage reconciliation over {Tenants} tenants: {Expired} sessions expired, {SessionBlobs} session blobs and {Orphans} orphaned blobs removed, {Released} stale reservations released, {Folded} storage counter deltas folded",
            report.Tenants, report.SessionsExpired, report.SessionBlobsRemoved, report.OrphansRemoved, report.ReservationsReleased, report.DeltasFolded);
        return report;
    }

    private sealed record EndedSession(Guid Id, string StagingKey, string FinalKey, string? MultipartUploadId, UploadSessionKind Kind);

    private async Task<(int Expired, int Removed)> CleanSessionsAsync(Guid tenant, CancellationToken ct)
    {
        // A completion whose node died mid-verification left its claim to lapse: the session is Pending again
        // (and expires just below when its time is up). Expiry is a conditional update: a verifying completion is
        // not expired under its feet, and its finishing transaction wins.
        await db.InTenantAsync(tenant, (c, tx) => UploadSessions.ReleaseLapsedClaimsAsync(c, tx, tenant, ct), ct);
        var expired = await db.InTenantAsync(tenant, (c, tx) => UploadSessions.ExpireAsync(c, tx, tenant, ct), ct);
        var ended = (await db.InTenantAsync(tenant, (c, tx) => c.QueryAsync<EndedSession>(new CommandDefinition($"""
            SELECT id, staging_key, final_key, multipart_upload_id, kind FROM upload_sessions
            WHERE tenant_id = @tenant AND status IN ({UploadSessionStates.Discarded.Sql()}) AND cleaned_at IS NULL
            ORDER BY id LIMIT 1000
            """, new { tenant }, tx, cancellationToken: ct)), ct)).ToList();
        var removed = 0;
        foreach (var session in ended)
        {
            if (session.MultipartUploadId is { } uploadId)
            {
                await blobs.AbortMultipartAsync(session.StagingKey, uploadId, ct);
            }
            foreach (var key in new[] { session.StagingKey, session.FinalKey }.Distinct())
            {
                if (await blobs.HeadAsync(key, ct) is not null && !await IsReferencedByVersionAsync(tenant, key, ct))
                {
                    await blobs.DeleteAsync(key, ct);
                    removed++;
                }
            }
            await db.InTenantAsync(tenant, (c, tx) => UploadSessions.MarkCleanedAsync(c, tx, tenant, session.Id, ct), ct);
        }
        return (expired, removed);
    }

    private sealed record HeldReservation(Guid Id, string FinalKey);

    /// <summary>
    /// Completed sessions still reserving bytes that no open replace request holds and no version took: the release the
    /// request's end should have made (or a path that missed it). A request is opened, and a version inserted, in the
    /// transaction that completes or settles the session, so what this sees held stays held until it ends.
    /// </summary>
    private Task<int> ReleaseStaleReservationsAsync(Guid tenant, CancellationToken ct) =>
        db.InTenantAsync(tenant, async (c, tx) =>
        {
            var reserving = (await c.QueryAsync<HeldReservation>(new CommandDefinition($"""
                SELECT id, final_key FROM upload_sessions
                WHERE tenant_id = @tenant AND reserved_bytes > 0 AND status = {UploadSessionStatus.Completed.Sql()}
                """, new { tenant }, tx, cancellationToken: ct))).ToList();
            if (reserving.Count == 0)
            {
                return 0;
            }
            var held = await StagedReplacements.HeldAsync(c, tx, tenant, [.. reserving.Select(r => r.FinalKey)], ct);
            var stale = reserving.Where(r => !held.Contains(r.FinalKey)).Select(r => r.Id).ToArray();
            return stale.Length == 0 ? 0 : await c.ExecuteAsync(new CommandDefinition("""
                UPDATE upload_sessions s SET reserved_bytes = 0
                WHERE s.tenant_id = @tenant AND s.id = ANY(@stale) AND s.reserved_bytes > 0
                  AND NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.tenant_id = s.tenant_id AND v.id = s.version_id)
                """, new { tenant, stale }, tx, cancellationToken: ct));
        }, ct);

    private async Task<int> RemoveOrphansAsync(Guid tenant, TimeSpan grace, CancellationToken ct)
    {
        var cutoff = clock.GetUtcNow() - grace;
        var removed = 0;
        var candidates = new List<string>(Batch);
        // Audit checkpoints share the tenant's prefix (a tenant purge removes them too) but are no document's
        // file: they are never orphans.
        var checkpoints = BlobKeys.AuditCheckpointPrefix(tenant);
        // A write cut off by a crash leaves a temporary file no key names (the file store's *.partial): never listed as a blob,
        // so it is swept here by age alone, an age no live write reaches (it keeps touching its file).
        removed += await blobs.RemoveAbandonedWritesAsync(BlobKeys.TenantPrefix(tenant), clock.GetUtcNow() - options.Value.Storage.AbandonedWriteAge, ct);
        await foreach (var blob in blobs.ListAsync(BlobKeys.TenantPrefix(tenant), ct))
        {
            if (blob.LastModified <= cutoff && !blob.Key.StartsWith(checkpoints, StringComparison.Ordinal))
            {
                candidates.Add(blob.Key);
            }
            if (candidates.Count == Batch)
            {
                removed += await RemoveUnreferencedAsync(tenant, candidates, ct);
                candidates.Clear();
            }
        }
        if (candidates.Count > 0)
        {
            removed += await RemoveUnreferencedAsync(tenant, candidates, ct);
        }
        return removed;
    }

    private async Task<int> RemoveUnreferencedAsync(Guid tenant, List<string> keys, CancellationToken ct)
    {
        // Listed before this query: any writer of these keys registered them before writing, so a key
        // that is unreferenced now was unreferenced when it was written and will never be referenced.
        var unreferenced = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            IReadOnlyList<string> left = [.. await c.QueryAsync<string>(new CommandDefinition($"""
                SELECT k FROM unnest(@keys) AS k
                WHERE NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.tenant_id = @tenant AND s.status IN ({UploadSessionStates.Open.Sql()})
                                    AND (s.staging_key = k OR s.final_key = k))
                """, new { tenant, keys = keys.ToArray() }, tx, cancellationToken: ct))];
            left = await NotHeldByRequestsAsync(c, tx, tenant, left, ct);
            return await NotVersionsAsync(c, tx, tenant, left, ct);
        }, ct);
        foreach (var key in unreferenced)
        {
            await blobs.DeleteAsync(key, ct);
            logger.LogInformation("Removed orphaned blob {BlobKey}", key);
        }
        return unreferenced.Count;
    }

    // A blob passes from an upload session to a replace request to a version, each hand-over in one transaction. The
    // owners are asked in that order, one statement each, and each statement sees at least what the one before it saw:
    // a key handed on between two statements is found by the first or by the second, never missed by both.

    private static async Task<IReadOnlyList<string>> NotHeldByRequestsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, IReadOnlyList<string> keys,
        CancellationToken ct)
    {
        var held = await StagedReplacements.HeldAsync(c, tx, tenant, keys, ct);
        // Thumbnails and previews are referenced by their rendition rows, never by a version.
        var renditions = await Previews.Renditions.HeldAsync(c, tx, tenant, keys, ct);
        return [.. keys.Where(k => !held.Contains(k) && !renditions.Contains(k))];
    }

    private static async Task<IReadOnlyList<string>> NotVersionsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, IReadOnlyList<string> keys,
        CancellationToken ct) =>
        keys.Count == 0
            ? []
            : [.. await c.QueryAsync<string>(new CommandDefinition("""
                SELECT k FROM unnest(@keys) AS k
                WHERE NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.tenant_id = @tenant AND v.blob_key = k)
                """, new { tenant, keys = keys.ToArray() }, tx, cancellationToken: ct))];

    private Task<bool> IsReferencedByVersionAsync(Guid tenant, string key, CancellationToken ct) =>
        db.InTenantAsync(tenant, async (c, tx) => (await NotVersionsAsync(c, tx, tenant, await NotHeldByRequestsAsync(c, tx, tenant, [key], ct), ct)).Count == 0, ct);
}

/// <summary>Runs <see cref="StorageReconciler"/> every <c>Dms__Storage__ReconcileInterval</c> on worker nodes.</summary>
internal sealed class ReconciliationService(StorageReconciler reconciler, IOptions<DmsOptions> options, ILogger<ReconciliationService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Storage.ReconcileInterval);
        do
        {
            try
            {
                await reconciler.RunOnceAsync(null, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Whatever failed (storage, database, a bug), the node stays up and the next pass tries again.
                logger.LogWarning(ex, "Storage reconciliation pass failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
