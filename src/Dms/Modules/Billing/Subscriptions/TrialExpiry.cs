using Dapper;
using Dms.Modules.Billing.Webhook;
using Dms.Platform.Database;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Billing.Subscriptions;

/// <summary>
/// Records the end of trials: a Trialing subscription whose trial has ended moves to PastDue (from the trial's end, so the
/// grace period counts from then), audited with the reason <c>trial_ended</c>. The gate already treats such a trial as past
/// due (<see cref="SubscriptionState.Effective"/>); this pass makes it the stored state. One node at a time.
/// </summary>
internal sealed class TrialExpiry(Db db, SubscriptionCache cache, TimeProvider clock, IOptions<BillingOptions> options, ILogger<TrialExpiry> logger) : BackgroundService
{
    internal const long AdvisoryLockKey = 0x0D05_0030;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await db.ForEachTenantUnderLockAsync(AdvisoryLockKey, async (tenant, ct) => await ExpireAsync(tenant, ct), stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "The trial expiry pass failed; it runs again in {Interval}", options.Value.TrialCheckInterval);
            }
            try
            {
                await Task.Delay(options.Value.TrialCheckInterval, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Moves the tenant's ended trial to PastDue; true when it did.</summary>
    public async Task<bool> ExpireAsync(Guid tenant, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var moved = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            var row = await SubscriptionCache.ReadAsync(c, tx, tenant, forUpdate: true, ct);
            if (row is not { Status: SubscriptionStatus.Trialing, TrialEndsAt: { } end } || end > now)
            {
                return false;
            }
            await BillingEvents.MoveAsync(c, tx, tenant, SubscriptionStatus.Trialing, SubscriptionStatus.PastDue, end, now, options.Value.DeletionDelay,
                new { reason = "trial_ended" }, ct);
            return true;
        }, ct);
        if (moved)
        {
            cache.Forget(tenant);
        }
        return moved;
    }
}
