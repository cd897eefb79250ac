using Dms.Modules.Billing;
using Shouldly;
using Xunit;

namespace Dms.Tests.Billing;

/// <summary>The state machine's table and what each state allows, without a database: every pair of states, fixed clocks.</summary>
public sealed class SubscriptionRulesTests
{
    private static readonly DateTime Now = new(2026, 12, 7, 12, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan Grace = TimeSpan.FromDays(7);

    [Fact]
    public void The_transition_table_allows_exactly_the_documented_moves()
    {
        var allowed = new HashSet<(SubscriptionStatus, SubscriptionStatus)>
        {
            (SubscriptionStatus.Trialing, SubscriptionStatus.Active), (SubscriptionStatus.Trialing, SubscriptionStatus.PastDue),
            (SubscriptionStatus.Trialing, SubscriptionStatus.Paused), (SubscriptionStatus.Trialing, SubscriptionStatus.Canceled),
            (SubscriptionStatus.Active, SubscriptionStatus.PastDue), (SubscriptionStatus.Active, SubscriptionStatus.Paused),
            (SubscriptionStatus.Active, SubscriptionStatus.Canceled),
            (SubscriptionStatus.PastDue, SubscriptionStatus.Active), (SubscriptionStatus.PastDue, SubscriptionStatus.Paused),
            (SubscriptionStatus.PastDue, SubscriptionStatus.Canceled),
            (SubscriptionStatus.Paused, SubscriptionStatus.Active), (SubscriptionStatus.Paused, SubscriptionStatus.Canceled),
        };
        var wrong = from f in Enum.GetValues<SubscriptionStatus>()
                    from t in Enum.GetValues<SubscriptionStatus>()
                    where SubscriptionStates.CanMove(f, t) != allowed.Contains((f, t))
                    select $"{f} → {t}";
        wrong.ShouldBeEmpty();
    }

    [Fact]
    public void Each_state_allows_what_the_documentation_says()
    {
        Access(SubscriptionStatus.Active).ShouldBe(SubscriptionAccess.Everything);
        Access(SubscriptionStatus.Trialing, trialEnds: Now.AddDays(1)).Write.ShouldBeTrue();
        Access(SubscriptionStatus.PastDue, pastDueSince: Now.AddDays(-6)).Write.ShouldBeTrue();
        var overdue = Access(SubscriptionStatus.PastDue, pastDueSince: Now.AddDays(-7));
        (overdue.Write, overdue.Export, overdue.RefusalCode).ShouldBe((false, true, "subscription.read_only"));
        var paused = Access(SubscriptionStatus.Paused);
        (paused.Write, paused.Export, paused.RefusalCode).ShouldBe((false, true, "subscription.paused"));
        var canceled = Access(SubscriptionStatus.Canceled);
        (canceled.Write, canceled.Export, canceled.RefusalCode).ShouldBe((false, true, "subscription.canceled"));
        // A trial that ended is past due from its end: within the grace period, then read-only.
        Access(SubscriptionStatus.Trialing, trialEnds: Now.AddDays(-1)).Write.ShouldBeTrue();
        Access(SubscriptionStatus.Trialing, trialEnds: Now.AddDays(-8)).RefusalCode.ShouldBe("subscription.read_only");
    }

    private static SubscriptionAccess Access(SubscriptionStatus status, DateTime? trialEnds = null, DateTime? pastDueSince = null) =>
        new SubscriptionState(status, trialEnds, pastDueSince, null, null).Access(Now, Grace);
}
