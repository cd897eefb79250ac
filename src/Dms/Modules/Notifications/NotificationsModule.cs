using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;

namespace Dms.Modules.Notifications;

internal sealed record NotificationResponse(Guid Id, string Kind, string Title, string Body, Guid? DocumentId, Guid? ApprovalId, DateTime CreatedAt, DateTime? ReadAt);

/// <summary>In-app notifications: written by the outbox handler below, read through <c>/api/v1/notifications</c>.</summary>
internal static class NotificationsModule
{
    public static IEndpointRouteBuilder MapNotifications(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/notifications").WithTags("Notifications").RequireAuthorization();
        group.MapGet("", List).WithSummary("List your notifications");
        group.MapGet("/unread-count", UnreadCount).WithSummary("Count your unread notifications");
        group.MapPost("/{id}/read", MarkRead).WithSummary("Mark a notification read");
        group.MapPost("/read-all", MarkAllRead).WithSummary("Mark all your notifications read");
        return app;
    }

    private const string Columns = "id, kind, title, body, document_id, approval_id, created_at, read_at";

    internal static async Task<IResult> List(HttpContext http, bool? unread, int? limit, string? cursor, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var take = KeysetCursor.Limit(limit);
        var after = KeysetCursor.Decode(cursor);
        var rows = (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<NotificationResponse>(new CommandDefinition($"""
            SELECT {Columns} FROM notifications
            WHERE tenant_id = @tenant AND user_id = @user AND (NOT @unread OR read_at IS NULL)
              AND (@afterAt::timestamptz IS NULL OR (created_at, id) < (@afterAt, @afterId))
            ORDER BY created_at DESC, id DESC LIMIT @take
            """, new { tenant = me.TenantId, user = me.UserId, unread = unread == true, afterAt = after?.CreatedAt, afterId = after?.Id ?? Guid.Empty, take = take + 1 },
            tx, cancellationToken: ct)), ct)).ToList();
        var items = rows.Take(take).ToList();
        var next = rows.Count > take ? new KeysetCursor(items[^1].CreatedAt, items[^1].Id).Encode() : null;
        return Results.Ok(new Page<NotificationResponse>(items, next));
    }

    internal static async Task<IResult> UnreadCount(HttpContext http, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var count = await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM notifications WHERE tenant_id = @tenant AND user_id = @user AND read_at IS NULL",
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct);
        return Results.Ok(new { count });
    }

    internal static async Task<IResult> MarkRead(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var notificationId = RouteIds.Parse(id);
        var notification = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<NotificationResponse>(new CommandDefinition($"""
            UPDATE notifications SET read_at = coalesce(read_at, now())
            WHERE tenant_id = @tenant AND user_id = @user AND id = @notificationId
            RETURNING {Columns}
            """, new { tenant = me.TenantId, user = me.UserId, notificationId }, tx, cancellationToken: ct)), ct);
        return notification is null ? throw ApiProblem.NotFound("notification") : Results.Ok(notification);
    }

    internal static async Task<IResult> MarkAllRead(HttpContext http, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var marked = await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition(
            "UPDATE notifications SET read_at = now() WHERE tenant_id = @tenant AND user_id = @user AND read_at IS NULL",
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct);
        return Results.Ok(new { marked });
    }
}

/// <summary>
/// Delivers a queued notification to its audience, resolved now (the tenant's enabled admins, or one user).
/// Each row's dedupe key is the message id and recipient, so a repeated delivery inserts nothing.
/// </summary>
internal sealed class NotifyHandler(Db db) : IOutboxHandler
{
    public string Type => OutboxTypes.Notify;

    public Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var payload = message.Read<Notify.Payload>();
        return db.InTenantAsync(message.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, document_id, approval_id, dedupe_key)
            SELECT gen_random_uuid(), @tenant, u.id, @Kind, @Title, @Body, @DocumentId, @ApprovalId, @messageId || ':' || u.id
            FROM users u
            WHERE u.tenant_id = @tenant AND NOT u.disabled
              AND ((@Audience = 'admins' AND u.role = 'Admin' AND u.id IS DISTINCT FROM @ExceptUserId)
                   OR (@Audience = 'user' AND u.id = @UserId))
            ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
            """,
            new
            {
                tenant = message.TenantId,
                payload.Kind,
                payload.Title,
                payload.Body,
                payload.DocumentId,
                payload.ApprovalId,
                messageId = message.Id.ToString(),
                payload.Audience,
                payload.ExceptUserId,
                payload.UserId,
            }, tx, cancellationToken: ct)), ct);
    }
}
