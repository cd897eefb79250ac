using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Documents;
using Dms.Modules.Notifications.Preferences;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Microsoft.Extensions.Options;
using MimeKit;
using Npgsql;

namespace Dms.Modules.Notifications.Mail;

/// <summary>
/// What both mail handlers share: reading the owed items, checking again at send time that they may still go (the
/// user is enabled, still wants e-mail for the kind, may still read the document), building the MIME message, and
/// recording the outcome. The SMTP conversation runs outside any database transaction.
/// </summary>
internal sealed class MailComposer(Db db, MailSender sender, UnsubscribeTokens unsubscribe, IOptions<DmsOptions> dms, IOptions<MailOptions> mail,
    TimeProvider clock, ILogger<MailComposer> logger)
{
    private const string Columns = "id, user_id, source_id, kind, title, body, document_id, approval_id, created_at";

    public MailLinks Links => new(new Uri((string.IsNullOrWhiteSpace(dms.Value.PublicUrl) ? "http://localhost:5080" : dms.Value.PublicUrl).TrimEnd('/') + "/"));

    /// <summary>
    /// Sends the still-owed items among those <paramref name="select"/> finds (one mail, or one digest), then marks them
    /// sent. A crash between the server's acceptance and that mark sends them again on the retry, with the same
    /// Message-ID (ADR 0024): the at-least-once window is that gap.
    /// </summary>
    public async Task DeliverAsync(Guid tenant, string select, object parameters, Func<List<(MailItem Item, DocumentForReader? Document)>, MailRecipient, MimeMessage> build,
        CancellationToken ct)
    {
        var prepared = await db.InTenantAsync<(List<(MailItem Item, DocumentForReader? Document)> Items, MailRecipient Recipient)?>(tenant, async (c, tx) =>
        {
            var items = (await c.QueryAsync<MailItem>(new CommandDefinition(
                $"SELECT {Columns} FROM mail_deliveries WHERE tenant_id = @tenant AND sent_at IS NULL AND skipped_reason IS NULL AND {select} ORDER BY created_at, id",
                new DynamicParameters(parameters).Also("tenant", tenant), tx, cancellationToken: ct))).ToList();
            if (items.Count == 0)
            {
                return null;
            }
            var recipient = await UserDirectory.MailRecipientAsync(c, tx, tenant, items[0].UserId, ct);
            var sendable = new List<(MailItem Item, DocumentForReader? Document)>();
            foreach (var item in items)
            {
                var (reason, document) = await CheckAsync(c, tx, tenant, recipient, item, ct);
                if (reason is not null)
                {
                    await c.ExecuteAsync(new CommandDefinition("UPDATE mail_deliveries SET skipped_reason = @reason WHERE tenant_id = @tenant AND id = @id",
                        new { tenant, id = item.Id, reason }, tx, cancellationToken: ct));
                    logger.LogInformation("Mail {DeliveryId} ({Kind}) not sent: {Reason}", item.Id, item.Kind, reason);
                    continue;
                }
                sendable.Add((item, document));
            }
            return sendable.Count == 0 ? null : (sendable, recipient!);
        }, ct);
        if (prepared is not { } ready)
        {
            return;
        }
        var message = build(ready.Items, ready.Recipient);
        message.Date = clock.GetUtcNow();
        await sender.SendAsync(message, ct);
        await db.InTenantAsync(tenant, (c, tx) => c.ExecuteAsync(new CommandDefinition(
            "UPDATE mail_deliveries SET sent_at = now() WHERE tenant_id = @tenant AND id = ANY(@ids) AND sent_at IS NULL",
            new { tenant, ids = ready.Items.Select(i => i.Item.Id).ToArray() }, tx, cancellationToken: ct)), ct);
        logger.LogInformation("Mail {MessageId} sent with {Count} notification(s)", message.MessageId, ready.Items.Count);
    }

    /// <summary>Why an item may not go now (null: it may), and the document it names as the recipient may see it.</summary>
    private static async Task<(string? Reason, DocumentForReader? Document)> CheckAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        MailRecipient? recipient, MailItem item, CancellationToken ct)
    {
        if (recipient is null)
        {
            return ("the user is disabled", null);
        }
        var channels = await PreferenceStore.ForKindAsync(c, tx, tenant, [item.UserId], item.Kind, ct);
        if (!channels[item.UserId].Email)
        {
            return ("the user turned e-mail off for this kind", null);
        }
        if (item.DocumentId is not { } documentId)
        {
            return (null, null);
        }
        var document = await DocumentsFacade.ForReaderAsync(c, tx, tenant, documentId, item.UserId, recipient.Role, ct);
        return document is null ? ("the user may no longer read the document", null) : (null, document);
    }

    /// <summary>The envelope every mail shares: sender, recipient, a deterministic Message-ID, unsubscribe headers, both bodies.</summary>
    public MimeMessage Envelope(MailRecipient recipient, string messageId, string unsubscribeToken, Func<string, RenderedMail> render)
    {
        var unsubscribeUrl = Links.Unsubscribe(unsubscribeToken);
        var rendered = render(unsubscribeUrl);
        if (!MailboxAddress.TryParse(recipient.Email, out var to))
        {
            throw new PermanentOutboxFailure("The recipient's e-mail address cannot be written in a mail header.");
        }
        var message = new MimeMessage { Subject = rendered.Subject, MessageId = $"{messageId}@{sender.Domain}" };
        message.From.Add(MailboxAddress.Parse(mail.Value.From));
        message.To.Add(to);
        // RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe, which POSTs to the same page.
        message.Headers.Add("List-Unsubscribe", $"<{unsubscribeUrl}>");
        message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        message.Headers.Add("Auto-Submitted", "auto-generated");
        message.Body = new BodyBuilder { TextBody = rendered.Text, HtmlBody = rendered.Html }.ToMessageBody();
        return message;
    }

    public string Token(Guid tenant, Guid user, string kind) => unsubscribe.Create(new Unsubscribe(tenant, user, kind));
}

/// <summary>Sends one notification to one recipient (<see cref="MailOutbox.SendType"/>), on the mail lane.</summary>
internal sealed class SendMailHandler(MailComposer composer) : IOutboxHandler
{
    public string Type => MailOutbox.SendType;

    public OutboxLane Lane => OutboxLane.Mail;

    public Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var payload = message.Read<MailSendMessage>();
        return composer.DeliverAsync(message.TenantId, "id = @id AND NOT digest", new { id = payload.DeliveryId }, (items, recipient) =>
        {
            var (item, document) = items[0];
            return composer.Envelope(recipient, $"dms.{item.SourceId:N}.{item.UserId:N}", composer.Token(message.TenantId, item.UserId, NotificationKinds.PreferenceOf(item.Kind)),
                url => MailTemplates.Single(item, document, recipient.Role == Roles.Admin, composer.Links, url));
        }, ct);
    }
}

/// <summary>Sends one user's daily digest (<see cref="MailOutbox.DigestType"/>): every item the digest job gave it, in one mail.</summary>
internal sealed class SendDigestHandler(MailComposer composer) : IOutboxHandler
{
    public string Type => MailOutbox.DigestType;

    public OutboxLane Lane => OutboxLane.Mail;

    public Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var payload = message.Read<MailDigestMessage>();
        return composer.DeliverAsync(message.TenantId, "digest_id = @digestId AND user_id = @userId", new { digestId = payload.DigestId, userId = payload.UserId },
            (items, recipient) => composer.Envelope(recipient, $"dms.digest.{payload.DigestId:N}.{payload.UserId:N}",
                composer.Token(message.TenantId, payload.UserId, Unsubscribe.AllKinds),
                url => MailTemplates.Digest(items, recipient.Role == Roles.Admin, composer.Links, url)), ct);
    }
}

internal static class DynamicParametersExtensions
{
    public static DynamicParameters Also(this DynamicParameters parameters, string name, object value)
    {
        parameters.Add(name, value);
        return parameters;
    }
}
