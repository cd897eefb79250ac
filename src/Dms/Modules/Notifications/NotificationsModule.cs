using Dms.Modules.Notifications.Delivery;
using Dms.Modules.Notifications.Inbox;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Notifications;

/// <summary>In-app notifications: queued by other modules through <see cref="NotificationOutbox"/>, read through <c>/api/v1/notifications</c>.</summary>
internal static class NotificationsModule
{
    /// <summary>Safe to call more than once (modules that send notifications may make sure the module is there).</summary>
    public static IServiceCollection AddNotifications(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, NotifyHandler>());
        services.AddHandlersFrom(typeof(NotificationsModule).Namespace!);
        return services;
    }

    public static IEndpointRouteBuilder MapNotifications(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/notifications").WithTags("Notifications").RequireAuthorization();
        group.MapGet("", NotificationEndpoints.List).Produces<Page<NotificationResponse>>(200).WithSummary("List your notifications");
        group.MapGet("/unread-count", NotificationEndpoints.UnreadCount).Produces<UnreadCount>(200).WithSummary("Count your unread notifications");
        group.MapPost("/{id}/read", NotificationEndpoints.MarkRead).Produces<NotificationResponse>(200).WithSummary("Mark a notification read");
        group.MapPost("/read-all", NotificationEndpoints.MarkAllRead).Produces<MarkedRead>(200).WithSummary("Mark all your notifications read");
        return app;
    }
}
