using System.Globalization;
using Dms.Modules.Billing;
using Dms.Modules.Billing.Usage;
using Dms.Ui;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>The plan's limits as bars (seats, storage), the plan's name and the subscription's state in words with its dates.</summary>
[Authorize(Policy = UiPolicies.Admin)]
internal sealed class UsageModel : UiPage
{
    public UsageResponse Usage { get; private set; } = null!;

    public async Task<IActionResult> OnGetAsync([FromServices] GetUsageHandler usage, CancellationToken ct)
    {
        Usage = await usage.HandleAsync(new GetUsage(), Me, ct);
        return Page();
    }
}

/// <summary>A subscription's state in words, for the usage page and the banner every page of the tenant shows.</summary>
internal static class SubscriptionWords
{
    public static string Date(DateTime utc) => utc.ToString("d MMM yyyy", CultureInfo.InvariantCulture);

    /// <summary>One line for the usage page: the state and its date.</summary>
    public static string State(SubscriptionUsage? s) => s switch
    {
        null => "No plan: no limits apply.",
        { Status: "trialing", TrialEndsAt: { } end } => $"Trial ends {Date(end)}",
        { Status: "trialing" } => "On trial",
        { Status: "active", CurrentPeriodEnd: { } renews } => $"Active: renews {Date(renews)}",
        { Status: "active" } => "Active (paid up)",
        { Status: "past_due", Allows.Write: true, ReadOnlyFrom: { } from } => $"Payment failed: editing stops on {Date(from)}",
        { Status: "past_due", ReadOnlyFrom: { } since } => $"Payment failed: read-only since {Date(since)}",
        { Status: "paused" } => "Paused: read-only",
        { Status: "canceled", DeletionScheduledAt: { } deletion } => $"Canceled: data will be deleted on {Date(deletion)}",
        _ => "Canceled",
    };

    /// <summary>The banner for everyone of the tenant, with what still works; null when nothing needs saying.</summary>
    public static string? Banner(SubscriptionState? state, DateTime now, TimeSpan gracePeriod)
    {
        if (state is null)
        {
            return null;
        }
        var (status, pastDueSince) = state.Effective(now);
        var access = state.Access(now, gracePeriod);
        return status switch
        {
            SubscriptionStatus.PastDue when access.Write =>
                $"Payment failed: editing stops on {Date((pastDueSince ?? now) + gracePeriod)} unless the payment goes through. Everything works until then.",
            SubscriptionStatus.PastDue => "Payment overdue: the organisation is read-only. Reading, downloading and exporting documents still work.",
            SubscriptionStatus.Paused => "Subscription paused: the organisation is read-only. Reading, downloading and exporting documents still work.",
            SubscriptionStatus.Canceled => state.DeletionScheduledAt is { } deletion
                ? $"Subscription canceled: documents can still be read, downloaded and exported until {Date(deletion)}, when the data will be deleted."
                : "Subscription canceled: documents can still be read, downloaded and exported.",
            _ => null,
        };
    }

    /// <summary>"3 of 5 seats", or "3 seats (no limit)".</summary>
    public static string Seats(SeatUsage seats) => seats.Limit is { } limit
        ? $"{seats.Used} of {limit} {(limit == 1 ? "seat" : "seats")}"
        : $"{seats.Used} {(seats.Used == 1 ? "seat" : "seats")} (no limit)";

    /// <summary>"1.2 GB of 5 GB", or "1.2 GB (no limit)".</summary>
    public static string Storage(StorageUsageResponse storage) => storage.LimitBytes is { } limit
        ? $"{Display.Size(storage.UsedBytes)} of {Display.Size(limit)}"
        : $"{Display.Size(storage.UsedBytes)} (no limit)";
}
