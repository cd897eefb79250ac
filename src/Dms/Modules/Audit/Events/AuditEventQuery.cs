using System.Globalization;
using System.Text.Json;
using Dapper;
using Dms.Platform.Http;

namespace Dms.Modules.Audit.Events;

internal sealed record AuditFilter(string? Actor, string? Action, string? EntityId, DateTimeOffset? From, DateTimeOffset? To);

/// <summary>An audit event as read from <c>audit_events</c> (data as text, parsed only when answered as JSON).</summary>
internal sealed class AuditEventRow
{
    public Guid Id { get; init; }

    /// <summary>Null while the event is pending: recorded, not yet chained (ADR 0038).</summary>
    public long? Seq { get; init; }

    /// <summary>The order events were recorded in (null for events chained before ADR 0038); keys the pending part of a list.</summary>
    public long? Recorded { get; init; }

    public DateTime OccurredAt { get; init; }
    public string ActorType { get; init; } = "";
    public Guid? ActorId { get; init; }
    public string ActorLabel { get; init; } = "";
    public string Action { get; init; } = "";
    public string EntityType { get; init; } = "";
    public string? EntityId { get; init; }
    public string? DataText { get; init; }
    public string? ClientIp { get; init; }
    public string? UserAgent { get; init; }
    public string? CorrelationId { get; init; }
    public string? Hash { get; init; }

    public bool Pending => Seq is null;

    public AuditEventResponse ToResponse() => new(Id, Seq, OccurredAt, ActorType, ActorId, ActorLabel, Action, EntityType, EntityId,
        DataText is null ? null : JsonDocument.Parse(DataText).RootElement.Clone(), ClientIp, UserAgent, CorrelationId, Hash, Pending);
}

/// <summary>The filters the list and the export share, and the SQL they make.</summary>
internal static class AuditEventQuery
{
    public const string Columns = "id, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, entity_id, data::text AS data_text, client_ip, user_agent, correlation_id, hash, recorded";

    public static AuditFilter Parse(string? actor, string? action, string? entityId, string? from, string? to)
    {
        static bool Text(string? value, int max) => value is null || (value.Length <= max && !value.Any(char.IsControl));
        DateTimeOffset? Time(string? value, string field, Validator v)
        {
            if (value is null)
            {
                return null;
            }
            var ok = DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed);
            v.Require(ok, field, $"{field} must be an ISO 8601 date or time.");
            return ok ? parsed : null;
        }
        var v = new Validator()
            .Require(Text(actor, 320), "actor", "actor is a user id or e-mail (at most 320 characters).")
            .Require(Text(action, 100), "action", "action is at most 100 characters (any part of an action name, e.g. 'approval').")
            .Require(Text(entityId, 100), "entityId", "entityId is at most 100 characters.");
        var filter = new AuditFilter(actor, action, entityId, Time(from, "from", v), Time(to, "to", v));
        v.ThrowIfInvalid();
        return filter;
    }

    public static (string Sql, DynamicParameters Parameters) Where(Guid tenant, AuditFilter f)
    {
        var where = new List<string> { "tenant_id = @tenant" };
        var p = new DynamicParameters(new { tenant });
        if (f.Actor is { } actor)
        {
            // An actor is a user id, or an e-mail / label fragment.
            if (Guid.TryParse(actor, out var actorId))
            {
                where.Add("actor_id = @actorId");
                p.Add("actorId", actorId);
            }
            else
            {
                where.Add(@"actor_label ILIKE @actorLabel ESCAPE '\'");
                p.Add("actorLabel", $"%{EscapeLike(actor)}%");
            }
        }
        if (f.Action is { } action)
        {
            // Typed into a search box: any part of the action, in any case ("approval", "Login", "document.down");
            // a trailing dot ("approval.") still reads as a prefix, which is also a part. What the user typed is
            // literal: % and _ are not wildcards.
            // ILIKE is not LEAKPROOF, so on audit_events it would be checked on every row of the tenant (RLS). The
            // tenant's distinct actions are few: found by skipping through audit_events_action (one probe per action,
            // `>` is LEAKPROOF), matched there, and the events then read by equality on that index.
            where.Add(@"action = ANY(ARRAY(
                WITH RECURSIVE actions(name) AS (
                  SELECT min(action) FROM audit_events WHERE tenant_id = @tenant
                  UNION ALL
                  SELECT (SELECT min(e.action) FROM audit_events e WHERE e.tenant_id = @tenant AND e.action > actions.name)
                  FROM actions WHERE actions.name IS NOT NULL)
                SELECT name FROM actions WHERE name ILIKE @action ESCAPE '\'))");
            p.Add("action", $"%{EscapeLike(action)}%");
        }
        if (f.EntityId is { } entityId)
        {
            where.Add("entity_id = @entityId");
            p.Add("entityId", entityId);
        }
        if (f.From is { } from)
        {
            where.Add("occurred_at >= @from");
            p.Add("from", from.UtcDateTime);
        }
        if (f.To is { } to)
        {
            where.Add("occurred_at < @to");
            p.Add("to", to.UtcDateTime);
        }
        return (string.Join(" AND ", where), p);
    }

    private static string EscapeLike(string value) =>
        value.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);
}
