namespace Dms.Modules.Notifications;

/// <summary>
/// Every kind of notification the application sends (the <c>kind</c> of <see cref="NotificationContent"/>), with the
/// words mails use for it and its default channels. A kind not listed here is refused by the preferences API and
/// delivered in-app and by e-mail (so a new kind is never silently dropped before it is added here).
/// </summary>
internal static class NotificationKinds
{
    private const string Decided = "approval.decided";

    /// <summary>The kinds people choose channels for (the preferences API and page list exactly these).</summary>
    public static readonly IReadOnlyList<NotificationKind> All =
    [
        new("approval.requested", "Decision requested", "A request waits for your decision.", "Open the document"),
        new("approval.reminder", "Decision reminder", "A request still waits for your decision.", "Open the document"),
        new(Decided, "Request approved or rejected", "Your request was decided.", "Open the document"),
        new("approval.expired", "Request expired", "Your request expired before it was decided.", "Open the document"),
        new("approval.executed", "Request carried out", "Your approved request was carried out.", "Open the document"),
        new("approval.failed", "Request failed", "Your approved request could not be carried out.", "Open the document"),
        new("comment.mentioned", "Mentioned in a comment", "Someone mentioned you in a comment.", "Open the document"),
        new("document.checkout_broken", "Check-out ended by an admin", "An admin ended your check-out of a document.", "Open the document"),
        new("webhook.paused", "Webhook paused", "A webhook endpoint kept failing and was paused.", "Open the webhooks page"),
    ];

    // A decision either way is one choice for the reader ("approval.decided", as the API contract names it), while the
    // notification itself keeps saying which way it went.
    private static readonly IReadOnlyList<NotificationKind> Outcomes =
    [
        new("approval.approved", "Request approved", "Your request was approved.", "Open the document", Preference: Decided),
        new("approval.rejected", "Request rejected", "Your request was rejected.", "Open the document", Preference: Decided),
    ];

    private static readonly Dictionary<string, NotificationKind> ByName = All.Concat(Outcomes).ToDictionary(k => k.Name, StringComparer.Ordinal);

    public static NotificationKind? Find(string? name) => name is not null && ByName.TryGetValue(name, out var kind) ? kind : null;

    /// <summary>The kind whose preference governs a notification of <paramref name="name"/>.</summary>
    public static string PreferenceOf(string name) => Find(name)?.Preference ?? name;

    /// <summary>Whether people can choose channels for <paramref name="name"/> (it is one of <see cref="All"/>).</summary>
    public static bool IsChoosable(string? name) => Find(name) is { Preference: null };

    /// <summary>What a mail calls a kind that is not in the list: its identifier.</summary>
    public static NotificationKind Describe(string name) => Find(name) ?? new(name, name, "", "Open");
}

/// <summary>A notification kind: its identifier, a label (preferences page, mail footer), the mail's lead sentence and button.</summary>
internal sealed record NotificationKind(string Name, string Label, string Lead, string Action, bool DefaultInApp = true, bool DefaultEmail = true,
    string? Preference = null);
