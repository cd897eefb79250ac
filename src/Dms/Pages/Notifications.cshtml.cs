using Dms.Modules.Notifications;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>The signed-in user's notifications; mark one or all read (htmx swaps the item in place).</summary>
internal sealed class NotificationsModel(Db db) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<NotificationResponse> Items { get; private set; } = new([], null);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Items = await Call<Page<NotificationResponse>>(NotificationsModule.List(HttpContext, null, 25, Cursor, db, ct));
        return Page();
    }

    public Task<IActionResult> OnPostReadAsync(string id, CancellationToken ct) => Attempt(async () =>
    {
        var read = await Call<NotificationResponse>(NotificationsModule.MarkRead(HttpContext, id, db, ct));
        return Request.Headers.ContainsKey("HX-Request") ? Partial("_Notification", read) : Redirect("/notifications");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostReadAllAsync(CancellationToken ct) => Attempt(async () =>
    {
        await NotificationsModule.MarkAllRead(HttpContext, db, ct);
        return Done("All notifications marked read.", "/notifications");
    }, () => OnGetAsync(ct));
}
