using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Notifications.Mail;

/// <summary>
/// Once a day, from <c>Dms__Mail__DigestHour</c> (UTC, by the injected clock), gathers each user's e-mail items held for
/// the digest into one <see cref="MailOutbox.DigestType"/> message. A user with nothing held gets nothing. The day of
/// the last digest is stored per user and moved in the same transaction as the items, so however many nodes run the job
/// (and however often) a user gets one digest a day.
/// </summary>
internal sealed class DigestJob(Db db, IOptions<MailOptions> options, TimeProvider clock, ILogger<DigestJob> logger)
{
    internal const long AdvisoryLockKey = 0x0D05_0019;

    /// <summary>Digests queued this pass; null when another node held the job's lock.</summary>
    public async Task<int?> RunOnceAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (!options.Value.Enabled || now.Hour < options.Value.DigestHour)
        {
            return 0;
        }
        var today = DateOnly.FromDateTime(now);
        var queued = 0;
        var tenants = await db.ForEachTenantUnderLockAsync(AdvisoryLockKey, (tenant, token) => db.InTenantAsync(tenant, async (c, tx) =>
        {
            var users = (await c.QueryAsync<Guid>(new CommandDefinition("""
                INSERT INTO notification_settings (tenant_id, user_id, last_digest_on)
                SELECT DISTINCT @tenant, m.user_id, @today::date FROM mail_deliveries m
                WHERE m.tenant_id = @tenant AND m.digest AND m.digest_id IS NULL AND m.sent_at IS NULL AND m.skipped_reason IS NULL
                ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_digest_on = EXCLUDED.last_digest_on
                  WHERE notification_settings.last_digest_on IS NULL OR notification_settings.last_digest_on < EXCLUDED.last_digest_on
                RETURNING user_id
                """,
                new { tenant, today = today.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) }, tx, cancellationToken: token))).ToList();
            foreach (var user in users)
            {
                var digestId = Guid.CreateVersion7();
                await c.ExecuteAsync(new CommandDefinition("""
                    UPDATE mail_deliveries SET digest_id = @digestId
                    WHERE tenant_id = @tenant AND user_id = @user AND digest AND digest_id IS NULL AND sent_at IS NULL AND skipped_reason IS NULL
                    """, new { tenant, user, digestId }, tx, cancellationToken: token));
                await Outbox.EnqueueAsync(c, tx, tenant, MailOutbox.DigestType, new MailDigestMessage(digestId, user), token);
                queued++;
            }
        }, token), ct);
        if (tenants is null)
        {
            return null;
        }
        if (queued > 0)
        {
            logger.LogInformation("Daily digest: {Count} digest mail(s) queued", queued);
        }
        return queued;
    }
}

/// <summary>Runs <see cref="DigestJob"/> every <c>Dms__Mail__DigestCheckInterval</c> on worker nodes.</summary>
internal sealed class DigestService(DigestJob job, IOptions<MailOptions> options, ILogger<DigestService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.DigestCheckInterval);
        do
        {
            try
            {
                await job.RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Daily digest pass failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
