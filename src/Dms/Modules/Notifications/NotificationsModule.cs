using Dms.Modules.Notifications.Delivery;
using Dms.Modules.Notifications.Inbox;
using Dms.Modules.Notifications.Mail;
using Dms.Modules.Notifications.Preferences;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Notifications;

/// <summary>
/// Notifications: queued by other modules through <see cref="NotificationOutbox"/>, delivered in-app (read through
/// <c>/api/v1/notifications</c>) and by e-mail over SMTP (<c>Dms__Mail__*</c>) as each user's preferences say
/// (<c>/api/v1/me/notification-preferences</c>).
/// </summary>
internal static class NotificationsModule
{
    /// <summary>Safe to call more than once (modules that send notifications may make sure the module is there).</summary>
    public static IServiceCollection AddNotifications(this IServiceCollection services, bool runBackgroundWork = false)
    {
        // Checked at start-up: a mistyped Dms__Mail__Tls or port stops the node with the reason, instead of every mail failing later.
        services.AddOptions<MailOptions>().BindConfiguration(MailOptions.Section)
            .Validate(o => o.Port is > 0 and < 65536, "Dms__Mail__Port must be a TCP port (1-65535).")
            .Validate(o => o.DigestHour is >= 0 and <= 23, "Dms__Mail__DigestHour must be an hour of the day (0-23, UTC).")
            .Validate(o => !o.Enabled || MimeKit.MailboxAddress.TryParse(o.From, out _), "Dms__Mail__From must be an address or Name <address>.")
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, NotifyHandler>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, SendMailHandler>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, SendDigestHandler>());
        services.TryAddSingleton<MailSender>();
        services.TryAddSingleton<MailComposer>();
        services.TryAddSingleton<UnsubscribeTokens>();
        services.TryAddSingleton<DigestJob>();
        services.TryAddSingleton<UnsubscribeHandler>();
        if (runBackgroundWork)
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DigestService>());
        }
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

        var preferences = app.MapGroup("/api/v1/me/notification-preferences").WithTags("Notifications").RequireAuthorization();
        preferences.MapGet("", PreferenceEndpoints.Get).Produces<NotificationPreferencesResponse>(200)
            .WithSummary("Your notification preferences: per kind in-app and e-mail, and the daily digest");
        preferences.MapPut("", PreferenceEndpoints.Put).Produces<NotificationPreferencesResponse>(200)
            .WithSummary("Change your notification preferences (the kinds listed; the others keep theirs)");
        return app;
    }
}
