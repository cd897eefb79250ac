using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Notifications.Mail;
using Dms.Modules.Notifications.Preferences;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Notifications.Delivery;

/// <summary>
/// Delivers a queued notification to its audience, resolved now through Access's <see cref="UserDirectory"/>, by the
/// channels each recipient chose for its kind: an in-app row, and (when mail is configured) a <c>mail_deliveries</c> row
/// that is either sent on its own through a <see cref="MailOutbox.SendType"/> message on the mail lane or held for the
/// daily digest. Both are keyed by the message id and recipient, so a repeated delivery inserts and queues nothing.
/// </summary>
internal sealed class NotifyHandler(Db db, IOptions<MailOptions> mail) : IOutboxHandler
{
    public string Type => NotificationOutbox.MessageType;

    /// <summary>Its own lane: an approval's execution never waits behind notifications (ADR 0040).</summary>
    public OutboxLane Lane => OutboxLane.Notifications;

    /// <summary>
    /// The notifications about one approval (approved, then executed) or one document arrive in the order they were
    /// written; unrelated ones are delivered side by side.
    /// </summary>
    public string? OrderKey(OutboxMessage message) => message.Read<NotificationMessage>() switch
    {
        { ApprovalId: { } approval } => $"approval:{approval}",
        { DocumentId: { } document } => $"document:{document}",
        _ => null,
    };

    public Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var payload = message.Read<NotificationMessage>();
        var tenant = message.TenantId;
        return db.InTenantAsync(tenant, async (c, tx) =>
        {
            IReadOnlyList<Guid> recipients = payload.Audience switch
            {
                NotificationMessage.Admins => await UserDirectory.ActiveAdminIdsAsync(c, tx, tenant, payload.ExceptUserId, ct),
                NotificationMessage.User when payload.UserId is { } user && await UserDirectory.IsActiveAsync(c, tx, tenant, user, ct) => [user],
                _ => [],
            };
            if (recipients.Count == 0)
            {
                return;
            }
            var channels = await PreferenceStore.ForKindAsync(c, tx, tenant, recipients, payload.Kind, ct);
            var content = new
            {
                tenant,
                payload.Kind,
                payload.Title,
                payload.Body,
                payload.DocumentId,
                payload.ApprovalId,
                messageId = message.Id,
            };
            var inApp = recipients.Where(r => channels[r].InApp).ToArray();
            if (inApp.Length > 0)
            {
                await c.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, document_id, approval_id, dedupe_key)
                    SELECT gen_random_uuid(), @tenant, r.id, @Kind, @Title, @Body, @DocumentId, @ApprovalId, @messageId::text || ':' || r.id
                    FROM unnest(@recipients) AS r(id)
                    ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                    """, new DynamicParameters(content).Also("recipients", inApp), tx, cancellationToken: ct));
            }
            var byMail = mail.Value.Enabled ? recipients.Where(r => channels[r].Email).ToArray() : [];
            if (byMail.Length == 0)
            {
                return;
            }
            var immediate = await c.QueryAsync<Guid?>(new CommandDefinition("""
                INSERT INTO mail_deliveries (tenant_id, id, user_id, source_id, kind, title, body, document_id, approval_id, digest)
                SELECT @tenant, gen_random_uuid(), r.id, @messageId, @Kind, @Title, @Body, @DocumentId, @ApprovalId, r.daily
                FROM unnest(@recipients, @daily) AS r(id, daily)
                ON CONFLICT (tenant_id, source_id, user_id) DO NOTHING
                RETURNING CASE WHEN NOT digest THEN id END
                """, new DynamicParameters(content).Also("recipients", byMail).Also("daily", byMail.Select(r => channels[r].Daily).ToArray()),
                tx, cancellationToken: ct));
            foreach (var deliveryId in immediate.OfType<Guid>())
            {
                await Outbox.EnqueueAsync(c, tx, tenant, MailOutbox.SendType, new MailSendMessage(deliveryId), ct);
            }
        }, ct);
    }
}
