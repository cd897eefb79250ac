using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Notifications.Inbox;

/// <summary><c>/api/v1/notifications</c>: the caller's own notifications.</summary>
internal static class NotificationEndpoints
{
    public static async Task<IResult> List(HttpContext http, bool? unread, int? limit, string? cursor, [FromServices] ListNotificationsHandler handler,
        CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ListNotifications(unread == true, limit, cursor), CurrentUser.From(http.User), ct));

    public static async Task<IResult> UnreadCount(HttpContext http, [FromServices] CountUnreadHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new CountUnread(), CurrentUser.From(http.User), ct));

    public static async Task<IResult> MarkRead(HttpContext http, string id, [FromServices] MarkNotificationReadHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        return Results.Ok(await handler.HandleAsync(new MarkNotificationRead(RouteIds.Parse(id)), me, ct));
    }

    public static async Task<IResult> MarkAllRead(HttpContext http, [FromServices] MarkAllNotificationsReadHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new MarkAllNotificationsRead(), CurrentUser.From(http.User), ct));
}
