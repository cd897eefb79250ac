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
