namespace Dms.Modules.Notifications.Mail;

/// <summary>The outbox messages of the mail lane: one per mail, never one per batch, so one bad address holds up nobody else.</summary>
internal static class MailOutbox
{
    /// <summary>One notification to one recipient (a row of <c>mail_deliveries</c>).</summary>
    public const string SendType = "mail.send";

    /// <summary>One user's daily digest (the rows of <c>mail_deliveries</c> with its digest id).</summary>
    public const string DigestType = "mail.digest";
}

internal sealed record MailSendMessage(Guid DeliveryId);

internal sealed record MailDigestMessage(Guid DigestId, Guid UserId);
