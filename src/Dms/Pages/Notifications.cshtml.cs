using Dms.Modules.Notifications.Inbox;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>The signed-in user's notifications; mark one or all read (htmx swaps the item in place).</summary>
internal sealed class NotificationsModel : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<NotificationResponse> Items { get; private set; } = new([], null);

    public async Task<IActionResult> OnGetAsync([FromServices] ListNotificationsHandler list, CancellationToken ct)
    {
        Items = await list.HandleAsync(new ListNotifications(Unread: false, 25, Cursor), Me, ct);
        return Page();
    }

    public Task<IActionResult> OnPostReadAsync(string id, [FromServices] MarkNotificationReadHandler markRead, [FromServices] ListNotificationsHandler list,
        CancellationToken ct) => Attempt(async () =>
    {
        var read = await markRead.HandleAsync(new MarkNotificationRead(RouteIds.Parse(id)), Me, ct);
        return Request.Headers.ContainsKey("HX-Request") ? Partial("_Notification", read) : Redirect("/notifications");
    }, () => OnGetAsync(list, ct));

    public Task<IActionResult> OnPostReadAllAsync([FromServices] MarkAllNotificationsReadHandler markAllRead, [FromServices] ListNotificationsHandler list,
        CancellationToken ct) => Attempt(async () =>
    {
        await markAllRead.HandleAsync(new MarkAllNotificationsRead(), Me, ct);
        return Done("All notifications marked read.", "/notifications");
    }, () => OnGetAsync(list, ct));
}
