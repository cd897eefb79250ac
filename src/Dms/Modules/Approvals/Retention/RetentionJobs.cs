using System.Xml;
using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Approvals.Retention;

internal sealed record RetentionReport(int RequestsExpired, int PurgesScheduled, bool Skipped, int Reminded = 0, int Escalated = 0);

/// <summary>
/// Periodic governance work, one node at a time: closes requests nobody decided within
/// <c>Dms__Approvals__PendingTtl</c>, and schedules the purge of documents deleted longer than
/// <c>Dms__Retention__DeletedDocuments</c> ago and not on legal hold (the purge itself is an outbox message).
/// </summary>
internal sealed class RetentionJobs(Db db, AuditTrail audit, IOptions<DmsOptions> options, TimeProvider clock, ILogger<RetentionJobs> logger)
{
    internal const long AdvisoryLockKey = 0x0D05_0003;

    public async Task<RetentionReport> RunOnceAsync(CancellationToken ct)
    {
        int expired = 0, purges = 0, reminded = 0, escalated = 0;
        var tenants = await db.ForEachTenantUnderLockAsync(AdvisoryLockKey, async (tenant, token) =>
        {
            expired += await ExpireRequestsAsync(tenant, token);
            var (r, e) = await RemindAndEscalateAsync(tenant, token);
            reminded += r;
            escalated += e;
            purges += await SchedulePurgesAsync(tenant, token);
        }, ct);
        if (tenants is null)
        {
            return new RetentionReport(0, 0, Skipped: true);
        }
        if (expired + purges + reminded + escalated > 0)
        {
            logger.LogInformation("Retention: {Expired} request(s) expired, {Reminded} reminded, {Escalated} escalated, {Purges} purge(s) scheduled",
                expired, reminded, escalated, purges);
        }
        return new RetentionReport(expired, purges, Skipped: false, reminded, escalated);
    }

    private Task<int> ExpireRequestsAsync(Guid tenant, CancellationToken ct) =>
        db.InTenantAsync(tenant, async (c, tx) =>
        {
            var due = (await c.QueryAsync<ApprovalRow>(new CommandDefinition($"""
                SELECT {ApprovalRequests.Columns} FROM approval_requests
                WHERE tenant_id = @tenant AND status = {ApprovalStatus.Pending.Sql()} AND expires_at < @now
                ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED
                """, new { tenant, now = clock.GetUtcNow().UtcDateTime }, tx, cancellationToken: ct))).ToList();
            var count = 0;
            foreach (var request in due)
            {
                count += await ApprovalRequests.CloseAsync(c, tx, audit, tenant, request, ApprovalStatus.Expired, null, null, ct) ? 1 : 0;
            }
            return count;
        }, ct);

    /// <summary>
    /// Reminds the approvers who have not voted when a request passes one of its policy's <c>remindAt</c> fractions of the
    /// time to expiry (one reminder however many were passed), and lets the escalation's fallback approvers decide a
    /// stage that waited <c>escalation.after</c>. Times come from the app's clock (tests move it).
    /// </summary>
    private Task<(int Reminded, int Escalated)> RemindAndEscalateAsync(Guid tenant, CancellationToken ct) =>
        db.InTenantAsync(tenant, async (c, tx) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var open = (await c.QueryAsync<ApprovalRow>(new CommandDefinition($"""
                SELECT {ApprovalRequests.Columns} FROM approval_requests
                WHERE tenant_id = @tenant AND status = {ApprovalStatus.Pending.Sql()} AND expires_at >= @now
                  AND (jsonb_array_length(COALESCE(policy -> 'remindAt', '[]'::jsonb)) > reminders_sent
                       OR (jsonb_typeof(policy -> 'escalation') = 'object' AND escalated_at IS NULL))
                ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED
                """, new { tenant, now }, tx, cancellationToken: ct))).ToList();
            int reminded = 0, escalated = 0;
            foreach (var request in open)
            {
                var policy = request.Snapshot;
                var lifetime = request.ExpiresAt - request.CreatedAt;
                var due = policy.RemindAt.Count(f => request.CreatedAt + (lifetime * f) <= now);
                if (due > request.RemindersSent)
                {
                    await Ballots.RemindAsync(c, tx, tenant, request, now, ct);
                    await c.ExecuteAsync(new CommandDefinition("UPDATE approval_requests SET reminders_sent = @due WHERE tenant_id = @tenant AND id = @id",
                        new { due, tenant, id = request.Id }, tx, cancellationToken: ct));
                    reminded++;
                }
                if (policy.Escalation is { After: { } after } && request.EscalatedAt is null
                    && (request.StageStartedAt ?? request.CreatedAt) + XmlConvert.ToTimeSpan(after) <= now)
                {
                    var people = await Ballots.EscalateAsync(c, tx, tenant, request, now, ct);
                    await c.ExecuteAsync(new CommandDefinition("UPDATE approval_requests SET escalated_at = @now WHERE tenant_id = @tenant AND id = @id",
                        new { now, tenant, id = request.Id }, tx, cancellationToken: ct));
                    await audit.RecordAsync(c, tx, "approval.escalated", "approval", request.Id, new { stage = request.Stage, approvers = people }, AuditActor.System, ct);
                    escalated++;
                }
            }
            return (reminded, escalated);
        }, ct);

    private Task<int> SchedulePurgesAsync(Guid tenant, CancellationToken ct) =>
        db.InTenantAsync(tenant, async (c, tx) =>
        {
            // purge_requested_at makes scheduling once-only; the handler re-checks everything when it runs.
            var due = await DocumentsFacade.MarkDueForPurgeAsync(c, tx, tenant, options.Value.Retention.DeletedDocuments, ct);
            foreach (var documentId in due)
            {
                await Outbox.EnqueueAsync(c, tx, tenant, OutboxTypes.Purge, new PurgeMessage(documentId), ct);
            }
            return due.Count;
        }, ct);
}

internal sealed record PurgeMessage(Guid DocumentId);

/// <summary>
/// Deletes the blobs of every version of a document whose retention ran out, then marks it Purged. Its
/// rows stay as a tombstone for history and audit. Re-checks the conditions (a restore or a legal hold since
/// scheduling wins) and is safe to repeat: deleting a missing blob is a no-op.
/// </summary>
internal sealed class PurgeDocumentHandler(Db db, IBlobStore blobs, AuditTrail audit, IOptions<DmsOptions> options, ILogger<PurgeDocumentHandler> logger) : IOutboxHandler
{
    public string Type => OutboxTypes.Purge;

    public string? OrderKey(OutboxMessage message) => $"document:{message.Read<PurgeMessage>().DocumentId}";

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var tenant = message.TenantId;
        var documentId = message.Read<PurgeMessage>().DocumentId;
        // First commit the decision (Purged: no restore from here on), then delete the blobs. A failure in
        // between leaves a Purged document whose remaining blobs the retry deletes; never a restorable
        // document with files missing.
        var keys = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            // "Due" is judged by the database clock, like the scheduling query, so node clock skew cannot disagree.
            var outcome = await DocumentsFacade.PurgeAsync(c, tx, tenant, documentId, options.Value.Retention.DeletedDocuments, ct);
            if (outcome is { PurgedNow: true })
            {
                await audit.RecordAsync(c, tx, "document.purged", "document", documentId, null, AuditActor.System, ct);
            }
            return outcome?.BlobKeys;
        }, ct);
        if (keys is null)
        {
            logger.LogInformation("Purge of document {DocumentId} skipped: no longer due (restored or on legal hold)", documentId);
            return;
        }
        foreach (var key in keys)
        {
            await blobs.DeleteAsync(key, ct);
        }
        logger.LogInformation("Purged document {DocumentId}: {Count} blob(s) deleted", documentId, keys.Count);
    }
}

/// <summary>Runs <see cref="RetentionJobs"/> every <c>Dms__Retention__PurgeInterval</c> on worker nodes.</summary>
internal sealed class RetentionService(RetentionJobs jobs, IOptions<DmsOptions> options, ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Retention.PurgeInterval);
        do
        {
            try
            {
                await jobs.RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Retention pass failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
