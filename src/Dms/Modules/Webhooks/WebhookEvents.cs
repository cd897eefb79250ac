using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;

namespace Dms.Modules.Webhooks;

/// <summary>The event types endpoints can subscribe to (the <c>type</c> of a delivery's body).</summary>
internal static class WebhookEventTypes
{
    public const string DocumentCreated = "document.created";
    public const string DocumentUpdated = "document.updated";
    public const string DocumentDeleted = "document.deleted";
    public const string DocumentRestored = "document.restored";
    public const string VersionAdded = "version.added";
    public const string ApprovalRequested = "approval.requested";
    public const string ApprovalDecided = "approval.decided";
    public const string ApprovalExecuted = "approval.executed";
    public const string ApprovalFailed = "approval.failed";
    public const string UserCreated = "user.created";
    public const string UserDisabled = "user.disabled";

    /// <summary>Sent by "send test event" to one endpoint, whatever it subscribes to.</summary>
    public const string Test = "webhook.test";

    public static readonly string[] All =
    [
        DocumentCreated, DocumentUpdated, DocumentDeleted, DocumentRestored, VersionAdded,
        ApprovalRequested, ApprovalDecided, ApprovalExecuted, ApprovalFailed, UserCreated, UserDisabled,
    ];
}

/// <summary>
/// How other modules publish an event: inside the transaction of the change it reports, so the event exists if and only
/// if the change committed. One statement writes the event and one delivery per enabled endpoint of the tenant that
/// subscribes to its type (none: nothing is written). Sending happens later, off the caller's path, in the module's
/// delivery worker.
/// </summary>
internal static class WebhookEvents
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <param name="entityId">The id of what the event is about: the body's <c>data.id</c>.</param>
    /// <param name="data">More fields of <c>data</c> (serialised with web names); null for none.</param>
    public static Task PublishAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, string type, Guid entityId, object? data, CancellationToken ct)
    {
        var fields = data is null ? new JsonObject() : JsonSerializer.SerializeToNode(data, Json) as JsonObject ?? new JsonObject();
        fields["id"] = entityId;
        return c.ExecuteAsync(new CommandDefinition("""
            WITH subscribed AS (
              SELECT e.id FROM webhook_endpoints e WHERE e.tenant_id = @tenant AND e.enabled AND @type = ANY(e.events)
            ), event AS (
              INSERT INTO webhook_events (tenant_id, id, type, data)
              SELECT @tenant, @eventId, @type, @data::jsonb WHERE EXISTS (SELECT 1 FROM subscribed)
              RETURNING id
            )
            INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id)
            SELECT @tenant, gen_random_uuid(), s.id, event.id FROM event CROSS JOIN subscribed s
            ON CONFLICT (tenant_id, endpoint_id, event_id) DO NOTHING
            """, new { tenant, type, eventId = Guid.CreateVersion7(), data = fields.ToJsonString(Json) }, tx, cancellationToken: ct));
    }
}
