using Dms.Modules.Access;
using Dms.Modules.Billing.Subscriptions;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Billing.Usage;

internal sealed record GetUsage;

/// <param name="Limit">Null: no limit.</param>
internal sealed record SeatUsage(int Used, int? Limit);

internal sealed record StorageUsageResponse(long UsedBytes, long? LimitBytes, long ReservedBytes);

internal sealed record PlanRef(Guid Id, string Name);

internal sealed record SubscriptionAllows(bool Write, bool Export);

/// <summary>
/// <paramref name="Status"/> is the status in force (a trial that has ended reads past_due even before the worker records
/// it); <paramref name="ReadOnlyFrom"/>: when a past-due tenant stops writing (the grace period's end).
/// </summary>
internal sealed record SubscriptionUsage(string Status, PlanRef Plan, DateTime? TrialEndsAt, DateTime? PastDueSince, DateTime? ReadOnlyFrom, DateTime? CanceledAt,
    DateTime? DeletionScheduledAt, DateTime? CurrentPeriodEnd, SubscriptionAllows Allows);

/// <summary><paramref name="Subscription"/> is null when the tenant has no plan: no limits, everything allowed.</summary>
internal sealed record UsageResponse(SeatUsage Seats, StorageUsageResponse Storage, SubscriptionUsage? Subscription);

/// <summary><c>GET /api/v1/tenant/usage</c>: seats, storage and the subscription, for any signed-in user of the tenant.</summary>
internal sealed class GetUsageHandler(Db db, TimeProvider clock, IOptions<BillingOptions> options) : IHandler<GetUsage, UsageResponse>
{
    public Task<UsageResponse> HandleAsync(GetUsage query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var limits = await TenantPlans.LimitsAsync(c, tx, me.TenantId, ct);
            var seats = await Seats.UsedAsync(c, tx, me.TenantId, ct);
            var storage = await StorageUsage.OfTenantAsync(c, tx, me.TenantId, ct);
            var row = await SubscriptionCache.ReadAsync(c, tx, me.TenantId, forUpdate: false, ct);
            SubscriptionUsage? subscription = null;
            if (row is not null && limits.PlanId is { } planId)
            {
                var now = clock.GetUtcNow().UtcDateTime;
                var state = new SubscriptionState(row.Status, row.TrialEndsAt, row.PastDueSince, row.CanceledAt, row.DeletionScheduledAt);
                var (status, pastDueSince) = state.Effective(now);
                var access = state.Access(now, options.Value.GracePeriod);
                subscription = new SubscriptionUsage(status.Json(), new PlanRef(planId, limits.PlanName!), row.TrialEndsAt, pastDueSince,
                    status == SubscriptionStatus.PastDue ? (pastDueSince ?? now) + options.Value.GracePeriod : null, row.CanceledAt,
                    row.DeletionScheduledAt, row.CurrentPeriodEnd, new SubscriptionAllows(access.Write, access.Export));
            }
            return new UsageResponse(new SeatUsage(seats, limits.Seats), new StorageUsageResponse(storage.UsedBytes, limits.StorageBytes, storage.ReservedBytes), subscription);
        }, ct);
}

internal static class UsageEndpoint
{
    public static async Task<IResult> Get(HttpContext http, GetUsageHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetUsage(), CurrentUser.From(http.User), ct));
}
