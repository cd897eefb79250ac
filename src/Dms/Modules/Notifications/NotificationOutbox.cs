using Dms.Platform.Outbox;
using Npgsql;

namespace Dms.Modules.Notifications;

/// <summary>
/// How other modules notify people: a message queued through the outbox in the transaction of the event it
/// reports, delivered later by <see cref="Delivery.NotifyHandler"/> to the audience as it is then (the tenant's
/// enabled admins, or one enabled user). The notification is written as given: callers name things in the title
/// themselves.
/// </summary>
internal static class NotificationOutbox
{
    /// <summary>The outbox message type this module handles.</summary>
    public const string MessageType = "notification.send";

    /// <summary>Every enabled admin of the tenant except <paramref name="exceptUserId"/>.</summary>
    public static Task ToAdminsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid? exceptUserId, NotificationContent content, CancellationToken ct) =>
        Outbox.EnqueueAsync(c, tx, tenant, MessageType, new NotificationMessage(content.Kind, NotificationMessage.Admins, null, exceptUserId,
            content.ApprovalId, content.DocumentId, content.Title, content.Body), ct);

    /// <summary>One user, if still enabled when it is delivered.</summary>
    public static Task ToUserAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, NotificationContent content, CancellationToken ct) =>
        Outbox.EnqueueAsync(c, tx, tenant, MessageType, new NotificationMessage(content.Kind, NotificationMessage.User, userId, null,
            content.ApprovalId, content.DocumentId, content.Title, content.Body), ct);
}

/// <summary>What a notification says and what it links to.</summary>
internal sealed record NotificationContent(string Kind, string Title, string Body, Guid? DocumentId = null, Guid? ApprovalId = null);

/// <summary>The outbox payload (its JSON is stored; the names stay as they are so that queued messages still read).</summary>
internal sealed record NotificationMessage(string Kind, string Audience, Guid? UserId, Guid? ExceptUserId, Guid? ApprovalId, Guid? DocumentId, string Title, string Body)
{
    public const string Admins = "admins";
    public const string User = "user";
}
