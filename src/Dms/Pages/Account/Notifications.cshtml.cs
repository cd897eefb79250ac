using Dms.Modules.Notifications;
using Dms.Modules.Notifications.Preferences;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Account;

/// <summary>Your notification preferences: per kind in-app and e-mail, and the daily digest (the API's handlers).</summary>
internal sealed class NotificationsModel(GetNotificationPreferencesHandler get, SetNotificationPreferencesHandler set) : UiPage
{
    public NotificationPreferencesResponse Current { get; private set; } = null!;

    /// <summary>The kinds whose box is ticked, per channel (an unticked box sends nothing).</summary>
    [BindProperty]
    public List<string> InApp { get; set; } = [];

    [BindProperty]
    public List<string> Email { get; set; } = [];

    [BindProperty]
    public string? Digest { get; set; }

    public static string Label(string kind) => NotificationKinds.Describe(kind).Label;

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Current = await get.HandleAsync(new GetNotificationPreferences(), Me, ct);
        return Page();
    }

    public Task<IActionResult> OnPostAsync(CancellationToken ct) => Attempt(async () =>
    {
        var kinds = NotificationKinds.All.Select(k => (KindPreferenceBody?)new KindPreferenceBody(k.Name, InApp.Contains(k.Name), Email.Contains(k.Name))).ToList();
        await set.HandleAsync(new SetNotificationPreferences(new NotificationPreferencesBody(kinds, Digest)), Me, ct);
        return Done("Your notification settings are saved.", "/account/notifications");
    }, async () =>
    {
        Current = await get.HandleAsync(new GetNotificationPreferences(), Me, ct);
        return Page();
    });
}
