using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Notifications.Inbox;

internal sealed record NotificationResponse(Guid Id, string Kind, string Title, string Body, Guid? DocumentId, Guid? ApprovalId, DateTime CreatedAt, DateTime? ReadAt);

internal sealed record UnreadCount(long Count);

internal sealed record MarkedRead(int Marked);

/// <summary>The caller's notifications, newest first, optionally only the unread ones.</summary>
internal sealed record ListNotifications(bool Unread, int? Limit, string? Cursor);

internal sealed class ListNotificationsHandler(Db db) : IHandler<ListNotifications, Page<NotificationResponse>>
{
    internal static readonly string Sql = $"""
        SELECT {NotificationColumns.All} FROM notifications
        WHERE tenant_id = @tenant AND user_id = @user AND (NOT @unread OR read_at IS NULL)
          AND (@afterAt::timestamptz IS NULL OR (created_at, id) < (@afterAt, @afterId))
        ORDER BY created_at DESC, id DESC LIMIT @take
        """;

    public async Task<Page<NotificationResponse>> HandleAsync(ListNotifications query, CurrentUser me, CancellationToken ct)
    {
        var take = KeysetCursor.Limit(query.Limit);
        var after = KeysetCursor.Decode(query.Cursor);
        var rows = (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<NotificationResponse>(new CommandDefinition(Sql, new { tenant = me.TenantId, user = me.UserId, unread = query.Unread, afterAt = after?.CreatedAt, afterId = after?.Id ?? Guid.Empty, take = take + 1 },
            tx, cancellationToken: ct)), ct)).ToList();
        var items = rows.Take(take).ToList();
        var next = rows.Count > take ? new KeysetCursor(items[^1].CreatedAt, items[^1].Id).Encode() : null;
        return new Page<NotificationResponse>(items, next);
    }
}

internal sealed record CountUnread;

internal sealed class CountUnreadHandler(Db db) : IHandler<CountUnread, UnreadCount>
{
    internal const string Sql = "SELECT count(*) FROM notifications WHERE tenant_id = @tenant AND user_id = @user AND read_at IS NULL";

    public async Task<UnreadCount> HandleAsync(CountUnread query, CurrentUser me, CancellationToken ct) =>
        new(await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteScalarAsync<long>(new CommandDefinition(Sql,
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct));
}

/// <summary>Marks one of the caller's notifications read (again is fine: the first time stays); 404 when it is not theirs.</summary>
internal sealed record MarkNotificationRead(Guid NotificationId);

internal sealed class MarkNotificationReadHandler(Db db) : IHandler<MarkNotificationRead, NotificationResponse>
{
    public async Task<NotificationResponse> HandleAsync(MarkNotificationRead command, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<NotificationResponse>(new CommandDefinition($"""
            UPDATE notifications SET read_at = coalesce(read_at, now())
            WHERE tenant_id = @tenant AND user_id = @user AND id = @notificationId
            RETURNING {NotificationColumns.All}
            """, new { tenant = me.TenantId, user = me.UserId, notificationId = command.NotificationId }, tx, cancellationToken: ct)), ct)
        ?? throw ApiProblem.NotFound("notification");
}

internal sealed record MarkAllNotificationsRead;

internal sealed class MarkAllNotificationsReadHandler(Db db) : IHandler<MarkAllNotificationsRead, MarkedRead>
{
    public async Task<MarkedRead> HandleAsync(MarkAllNotificationsRead command, CurrentUser me, CancellationToken ct) =>
        new(await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition(
            "UPDATE notifications SET read_at = now() WHERE tenant_id = @tenant AND user_id = @user AND read_at IS NULL",
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct));
}

internal static class NotificationColumns
{
    public const string All = "id, kind, title, body, document_id, approval_id, created_at, read_at";
}
