namespace Dms.Modules.Billing;

/// <summary>A tenant's subscription state, stored by name in <c>tenant_subscriptions.status</c> (docs/billing.md).</summary>
internal enum SubscriptionStatus
{
    /// <summary>On a plan's trial: everything allowed until the trial ends.</summary>
    Trialing,

    /// <summary>Paid up: everything allowed.</summary>
    Active,

    /// <summary>A payment failed: everything allowed for the grace period, then read-only.</summary>
    PastDue,

    /// <summary>Paused by the provider: read-only.</summary>
    Paused,

    /// <summary>Ended: read and export only, until the scheduled deletion.</summary>
    Canceled,
}

/// <summary>The subscription state machine: every allowed move in one place.</summary>
internal static class SubscriptionStates
{
    private static readonly Dictionary<SubscriptionStatus, SubscriptionStatus[]> Next = new()
    {
        [SubscriptionStatus.Trialing] = [SubscriptionStatus.Active, SubscriptionStatus.PastDue, SubscriptionStatus.Paused, SubscriptionStatus.Canceled],
        [SubscriptionStatus.Active] = [SubscriptionStatus.PastDue, SubscriptionStatus.Paused, SubscriptionStatus.Canceled],
        [SubscriptionStatus.PastDue] = [SubscriptionStatus.Active, SubscriptionStatus.Paused, SubscriptionStatus.Canceled],
        [SubscriptionStatus.Paused] = [SubscriptionStatus.Active, SubscriptionStatus.Canceled],
        [SubscriptionStatus.Canceled] = [],
    };

    public static bool CanMove(SubscriptionStatus from, SubscriptionStatus to) => Next[from].Contains(to);

    /// <summary>The states from which <paramref name="to"/> may be reached, for a conditional <c>UPDATE … WHERE status IN (…)</c>.</summary>
    public static SubscriptionStatus[] From(SubscriptionStatus to) => [.. Next.Where(n => n.Value.Contains(to)).Select(n => n.Key)];
}

/// <summary>How a status is named in JSON and in the audit trail (<c>past_due</c>), stable for clients.</summary>
internal static class SubscriptionStatusNames
{
    public static string Json(this SubscriptionStatus status) => status switch
    {
        SubscriptionStatus.Trialing => "trialing",
        SubscriptionStatus.Active => "active",
        SubscriptionStatus.PastDue => "past_due",
        SubscriptionStatus.Paused => "paused",
        SubscriptionStatus.Canceled => "canceled",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}

/// <summary>What a subscription allows right now: writing (everything) and exporting (downloads, lists, bulk ZIP).</summary>
/// <param name="RefusalCode">The problem code a refused write answers with; null when writes are allowed.</param>
internal sealed record SubscriptionAccess(bool Write, bool Export, string? RefusalCode, string? Message, DateTime? ReadOnlyFrom)
{
    public static readonly SubscriptionAccess Everything = new(true, true, null, null, null);
}

/// <summary>A tenant's subscription as the rules need it (a row of <c>tenant_subscriptions</c>).</summary>
internal sealed record SubscriptionState(SubscriptionStatus Status, DateTime? TrialEndsAt, DateTime? PastDueSince, DateTime? CanceledAt, DateTime? DeletionScheduledAt)
{
    /// <summary>
    /// The status in force at <paramref name="now"/>: a trial whose end has passed is past due from its end even before the
    /// background pass records it, so enforcement never depends on when that pass runs.
    /// </summary>
    public (SubscriptionStatus Status, DateTime? PastDueSince) Effective(DateTime now) =>
        Status == SubscriptionStatus.Trialing && TrialEndsAt is { } end && end <= now ? (SubscriptionStatus.PastDue, end) : (Status, PastDueSince);

    /// <summary>What each state allows (docs/billing.md, "States"): the one table the gate and the usage report read.</summary>
    public SubscriptionAccess Access(DateTime now, TimeSpan gracePeriod)
    {
        var (status, pastDueSince) = Effective(now);
        switch (status)
        {
            case SubscriptionStatus.Trialing or SubscriptionStatus.Active:
                return SubscriptionAccess.Everything;
            case SubscriptionStatus.PastDue:
                var readOnlyFrom = (pastDueSince ?? now) + gracePeriod;
                return now < readOnlyFrom
                    ? SubscriptionAccess.Everything with { ReadOnlyFrom = readOnlyFrom }
                    : new(false, true, "subscription.read_only",
                        "A payment is overdue and the grace period has ended: the organisation is read-only (reading, downloads and exports still work) until the payment goes through.",
                        readOnlyFrom);
            case SubscriptionStatus.Paused:
                return new(false, true, "subscription.paused",
                    "The subscription is paused: the organisation is read-only (reading, downloads and exports still work) until it is resumed.", null);
            default:
                return new(false, true, "subscription.canceled",
                    $"The subscription is canceled: documents can still be read, downloaded and exported{(DeletionScheduledAt is { } d ? $" until {d:d MMM yyyy}, when the data is deleted" : "")}.", null);
        }
    }
}
