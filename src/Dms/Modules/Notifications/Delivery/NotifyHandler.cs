using Dapper;
using Dms.Modules.Access;
using Dms.Platform.Database;
using Dms.Platform.Outbox;

namespace Dms.Modules.Notifications.Delivery;

/// <summary>
/// Delivers a queued notification to its audience, resolved now through Access's <see cref="UserDirectory"/>.
/// Each row's dedupe key is the message id and recipient, so a repeated delivery inserts nothing.
/// </summary>
internal sealed class NotifyHandler(Db db) : IOutboxHandler
{
    public string Type => NotificationOutbox.MessageType;

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
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, document_id, approval_id, dedupe_key)
                SELECT gen_random_uuid(), @tenant, r.id, @Kind, @Title, @Body, @DocumentId, @ApprovalId, @messageId || ':' || r.id
                FROM unnest(@recipients) AS r(id)
                ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                """,
                new
                {
                    tenant,
                    payload.Kind,
                    payload.Title,
                    payload.Body,
                    payload.DocumentId,
                    payload.ApprovalId,
                    messageId = message.Id.ToString(),
                    recipients = recipients.ToArray(),
                }, tx, cancellationToken: ct));
        }, ct);
    }
}
