using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Webhooks.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Webhooks.Manage;

/// <summary>An endpoint as the API shows it; <c>state</c> is <c>active</c>, <c>paused</c> (the breaker) or <c>disabled</c>.</summary>
internal sealed record WebhookResponse(Guid Id, string Url, string Description, IReadOnlyList<string> Events, bool Enabled, string State,
    int ConsecutiveFailures, DateTime? PausedAt, DateTime? PreviousSecretValidUntil, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>A created endpoint, or one whose secret was rotated: the only answers that show the secret.</summary>
internal sealed record WebhookWithSecret(Guid Id, string Url, string Description, IReadOnlyList<string> Events, bool Enabled, string State,
    int ConsecutiveFailures, DateTime? PausedAt, DateTime? PreviousSecretValidUntil, DateTime CreatedAt, DateTime UpdatedAt, string Secret)
{
    public static WebhookWithSecret Of(WebhookResponse w, string secret) =>
        new(w.Id, w.Url, w.Description, w.Events, w.Enabled, w.State, w.ConsecutiveFailures, w.PausedAt, w.PreviousSecretValidUntil, w.CreatedAt, w.UpdatedAt, secret);
}

internal sealed record DeliveryAttempt(int Attempt, DateTime At, int? StatusCode, int LatencyMs, string? Error);

/// <summary>One delivery and its log; <c>eventId</c> is the <c>webhook-id</c> header the receiver saw.</summary>
internal sealed record DeliveryResponse(Guid Id, Guid EventId, string EventType, long Sequence, string Status, int Attempts, DateTime? NextAttemptAt,
    int? LastStatusCode, string? LastError, DateTime CreatedAt, DateTime? FinishedAt, IReadOnlyList<DeliveryAttempt> Log);

internal sealed record CreateWebhook(string? Url, IReadOnlyList<string>? Events, string? Description, bool? Enabled);

internal sealed record ListWebhooks;

internal sealed record GetWebhook(Guid WebhookId);

/// <summary>Null fields stay as they are. <c>Enabled = true</c> also resumes an endpoint the breaker paused.</summary>
internal sealed record UpdateWebhook(Guid WebhookId, string? Url, IReadOnlyList<string>? Events, string? Description, bool? Enabled);

internal sealed record DeleteWebhook(Guid WebhookId);

internal sealed record RotateWebhookSecret(Guid WebhookId);

internal sealed record SendTestEvent(Guid WebhookId);

internal sealed record ListDeliveries(Guid WebhookId, string? Status, int? Limit);

internal sealed record ReplayDelivery(Guid WebhookId, Guid DeliveryId);

internal sealed class EndpointRow
{
    public Guid Id { get; init; }
    public string Url { get; init; } = "";
    public string Description { get; init; } = "";
    public string[] Events { get; init; } = [];
    public bool Enabled { get; init; }
    public Circuit Circuit { get; init; }
    public int ConsecutiveFailures { get; init; }
    public DateTime? CircuitOpenedAt { get; init; }
    public DateTime? PreviousSecretUntil { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; init; }

    public WebhookResponse ToResponse() => new(Id, Url, Description, Events, Enabled,
        !Enabled ? "disabled" : Circuit == Circuit.Open ? "paused" : "active", ConsecutiveFailures,
        Circuit == Circuit.Open ? CircuitOpenedAt : null, PreviousSecretUntil, CreatedAt, UpdatedAt);
}

internal static class WebhookRows
{
    public const string Columns = "id, url, description, events, enabled, circuit, consecutive_failures, circuit_opened_at, previous_secret_until, created_at, updated_at";

    public static void RequireAdmin(CurrentUser me)
    {
        if (!me.IsAdmin)
        {
            throw ApiProblem.Forbidden("webhook.forbidden", "Only admins manage webhooks.");
        }
    }

    public static async Task<EndpointRow> GetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, bool forUpdate, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<EndpointRow>(new CommandDefinition(
            $"SELECT {Columns} FROM webhook_endpoints WHERE tenant_id = @tenant AND id = @id{(forUpdate ? " FOR UPDATE" : "")}",
            new { tenant, id }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("webhook");

    /// <summary>The URL, the events and the description, checked; the URL's host also against the SSRF guard.</summary>
    public static async Task<(string? Url, string[]? Events, string? Description)> ValidateAsync(string? url, IReadOnlyList<string>? events, string? description,
        bool creating, WebhookOptions options, CancellationToken ct)
    {
        var v = new Validator();
        Uri? uri = null;
        if (creating || url is not null)
        {
            var problem = TargetGuard.UrlProblem(url, out uri);
            v.Require(problem is null, "url", problem ?? "");
        }
        string[]? cleaned = null;
        if (creating || events is not null)
        {
            cleaned = events?.Where(e => e is not null).Select(e => e.Trim()).Distinct(StringComparer.Ordinal).ToArray() ?? [];
            v.Require(cleaned.Length > 0, "events", "events must name at least one event type.");
            var unknown = cleaned.Where(e => !WebhookEventTypes.All.Contains(e, StringComparer.Ordinal)).ToArray();
            v.Require(unknown.Length == 0, "events", $"Unknown event types: {string.Join(", ", unknown.Take(5).Select(u => u.Length > 40 ? u[..40] : u))}. Known: {string.Join(", ", WebhookEventTypes.All)}.");
        }
        var text = description?.Trim();
        v.Require(text is null || (text.Length <= 500 && !text.Any(char.IsControl)), "description", "description must be at most 500 characters without control characters.");
        v.ThrowIfInvalid();
        if (uri is not null && await TargetGuard.HostProblemAsync(uri, options.AllowPrivateTargets, ct) is { } blocked)
        {
            throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "webhook.target_not_allowed", "The webhook URL points to an address webhooks may not reach.", blocked);
        }
        return (uri?.AbsoluteUri, cleaned, text);
    }

    /// <summary>What the audit trail keeps of a URL: no query string (integrators put tokens there).</summary>
    public static string ForAudit(string url) => Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.GetLeftPart(UriPartial.Path) : "";
}

internal sealed class CreateWebhookHandler(Db db, AuditTrail audit, WebhookSecrets secrets, IOptions<WebhookOptions> options) : IHandler<CreateWebhook, WebhookWithSecret>
{
    public async Task<WebhookWithSecret> HandleAsync(CreateWebhook command, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        var (url, events, description) = await WebhookRows.ValidateAsync(command.Url, command.Events, command.Description, creating: true, options.Value, ct);
        var secret = Signatures.NewSecret();
        var id = Guid.CreateVersion7();
        var created = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            if (!(await Billing.TenantPlans.LimitsAsync(c, tx, me.TenantId, ct)).Allows(Billing.PlanFeatures.Webhooks))
            {
                throw Billing.TenantPlans.FeatureUnavailable("Webhooks");
            }
            var row = await c.QuerySingleAsync<EndpointRow>(new CommandDefinition($"""
                INSERT INTO webhook_endpoints (tenant_id, id, url, description, events, enabled, secret, created_by)
                VALUES (@tenant, @id, @url, @description, @events, @enabled, @secret, @by)
                RETURNING {WebhookRows.Columns}
                """, new { tenant = me.TenantId, id, url, description = description ?? "", events, enabled = command.Enabled ?? true, secret = secrets.Protect(secret), by = me.UserId },
                tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "webhook.created", "webhook", id, new { url = WebhookRows.ForAudit(row.Url), row.Events, row.Description, row.Enabled }, ct: ct);
            return row;
        }, ct);
        return WebhookWithSecret.Of(created.ToResponse(), secret);
    }
}

internal sealed class ListWebhooksHandler(Db db) : IHandler<ListWebhooks, IReadOnlyList<WebhookResponse>>
{
    public async Task<IReadOnlyList<WebhookResponse>> HandleAsync(ListWebhooks query, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        var rows = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<EndpointRow>(new CommandDefinition(
            $"SELECT {WebhookRows.Columns} FROM webhook_endpoints WHERE tenant_id = @tenant ORDER BY created_at, id", new { tenant = me.TenantId }, tx, cancellationToken: ct)), ct);
        return rows.Select(r => r.ToResponse()).ToList();
    }
}

internal sealed class GetWebhookHandler(Db db) : IHandler<GetWebhook, WebhookResponse>
{
    public async Task<WebhookResponse> HandleAsync(GetWebhook query, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        return (await db.InTenantAsync(me.TenantId, (c, tx) => WebhookRows.GetAsync(c, tx, me.TenantId, query.WebhookId, forUpdate: false, ct), ct)).ToResponse();
    }
}

internal sealed class UpdateWebhookHandler(Db db, AuditTrail audit, IOptions<WebhookOptions> options) : IHandler<UpdateWebhook, WebhookResponse>
{
    public async Task<WebhookResponse> HandleAsync(UpdateWebhook command, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        var (url, events, description) = await WebhookRows.ValidateAsync(command.Url, command.Events, command.Description, creating: false, options.Value, ct);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var before = await WebhookRows.GetAsync(c, tx, me.TenantId, command.WebhookId, forUpdate: true, ct);
            // Enabling resumes a paused endpoint: its circuit closes and its waiting deliveries are due at once.
            var resume = command.Enabled == true && before.Circuit == Circuit.Open && WebhookStates.CanMove(Circuit.Open, Circuit.Closed);
            var after = await c.QuerySingleAsync<EndpointRow>(new CommandDefinition($"""
                UPDATE webhook_endpoints
                SET url = coalesce(@url, url), events = coalesce(@events, events), description = coalesce(@description, description),
                    enabled = coalesce(@enabled, enabled), updated_at = now(),
                    circuit = CASE WHEN @resume THEN {Circuit.Closed.Sql()} ELSE circuit END,
                    consecutive_failures = CASE WHEN @resume THEN 0 ELSE consecutive_failures END,
                    circuit_opened_at = CASE WHEN @resume THEN NULL ELSE circuit_opened_at END,
                    probe_at = CASE WHEN @resume THEN NULL ELSE probe_at END
                WHERE tenant_id = @tenant AND id = @id
                RETURNING {WebhookRows.Columns}
                """, new { url, events, description, enabled = command.Enabled, resume, tenant = me.TenantId, id = command.WebhookId }, tx, cancellationToken: ct));
            if (resume)
            {
                await c.ExecuteAsync(new CommandDefinition($"""
                    UPDATE webhook_deliveries SET available_at = now()
                    WHERE tenant_id = @tenant AND endpoint_id = @id AND status = {DeliveryStatus.Pending.Sql()}
                    """, new { tenant = me.TenantId, id = command.WebhookId }, tx, cancellationToken: ct));
            }
            await audit.RecordAsync(c, tx, resume ? "webhook.resumed" : "webhook.updated", "webhook", command.WebhookId, new
            {
                before = new { url = WebhookRows.ForAudit(before.Url), before.Events, before.Description, before.Enabled },
                after = new { url = WebhookRows.ForAudit(after.Url), after.Events, after.Description, after.Enabled },
            }, ct: ct);
            return after.ToResponse();
        }, ct);
    }
}

internal sealed class DeleteWebhookHandler(Db db, AuditTrail audit) : IHandler<DeleteWebhook, WebhookResponse>
{
    public async Task<WebhookResponse> HandleAsync(DeleteWebhook command, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var row = await WebhookRows.GetAsync(c, tx, me.TenantId, command.WebhookId, forUpdate: true, ct);
            await c.ExecuteAsync(new CommandDefinition("DELETE FROM webhook_endpoints WHERE tenant_id = @tenant AND id = @id",
                new { tenant = me.TenantId, id = command.WebhookId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "webhook.deleted", "webhook", command.WebhookId, new { url = WebhookRows.ForAudit(row.Url), row.Events }, ct: ct);
            return row.ToResponse();
        }, ct);
    }
}

/// <summary>A new secret, shown once; the old one keeps signing (as a second signature) for <see cref="WebhookOptions.SecretOverlap"/>.</summary>
internal sealed class RotateWebhookSecretHandler(Db db, AuditTrail audit, WebhookSecrets secrets, IOptions<WebhookOptions> options, TimeProvider clock)
    : IHandler<RotateWebhookSecret, WebhookWithSecret>
{
    public async Task<WebhookWithSecret> HandleAsync(RotateWebhookSecret command, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        var secret = Signatures.NewSecret();
        var until = clock.GetUtcNow().UtcDateTime + options.Value.SecretOverlap;
        var row = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WebhookRows.GetAsync(c, tx, me.TenantId, command.WebhookId, forUpdate: true, ct);
            var rotated = await c.QuerySingleAsync<EndpointRow>(new CommandDefinition($"""
                UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = @until, secret = @secret, updated_at = now()
                WHERE tenant_id = @tenant AND id = @id
                RETURNING {WebhookRows.Columns}
                """, new { until, secret = secrets.Protect(secret), tenant = me.TenantId, id = command.WebhookId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "webhook.secret_rotated", "webhook", command.WebhookId, new { previousValidUntil = until }, ct: ct);
            return rotated;
        }, ct);
        return WebhookWithSecret.Of(row.ToResponse(), secret);
    }
}

/// <summary>
/// A <c>webhook.test</c> event delivered to this endpoint only, whatever it subscribes to. A paused endpoint gets it as its
/// next probe: if it succeeds, the endpoint resumes.
/// </summary>
internal sealed class SendTestEventHandler(Db db, AuditTrail audit) : IHandler<SendTestEvent, DeliveryResponse>
{
    public async Task<DeliveryResponse> HandleAsync(SendTestEvent command, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var endpoint = await WebhookRows.GetAsync(c, tx, me.TenantId, command.WebhookId, forUpdate: true, ct);
            if (!endpoint.Enabled)
            {
                throw ApiProblem.Conflict("webhook.disabled", "The webhook is disabled: enable it to send a test event.");
            }
            var eventId = Guid.CreateVersion7();
            var deliveryId = Guid.CreateVersion7();
            await c.ExecuteAsync(new CommandDefinition($"""
                INSERT INTO webhook_events (tenant_id, id, type, data) VALUES (@tenant, @eventId, @type, @data::jsonb);
                INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id) VALUES (@tenant, @deliveryId, @endpoint, @eventId);
                UPDATE webhook_endpoints SET probe_at = now() WHERE tenant_id = @tenant AND id = @endpoint AND circuit = {Circuit.Open.Sql()};
                """, new
            {
                tenant = me.TenantId,
                eventId,
                deliveryId,
                endpoint = command.WebhookId,
                type = WebhookEventTypes.Test,
                data = System.Text.Json.JsonSerializer.Serialize(new { id = command.WebhookId, message = "A test event sent from DMS.", sentBy = me.Email }),
            }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "webhook.test_sent", "webhook", command.WebhookId, new { deliveryId }, ct: ct);
            return (await Deliveries.ListAsync(c, tx, me.TenantId, command.WebhookId, deliveryId, null, 1, ct))[0];
        }, ct);
    }
}

internal sealed class ListDeliveriesHandler(Db db) : IHandler<ListDeliveries, IReadOnlyList<DeliveryResponse>>
{
    public async Task<IReadOnlyList<DeliveryResponse>> HandleAsync(ListDeliveries query, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        DeliveryStatus? status = null;
        if (!string.IsNullOrEmpty(query.Status))
        {
            status = Enum.TryParse<DeliveryStatus>(query.Status, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !query.Status.Any(char.IsDigit)
                ? parsed
                : throw ApiProblem.Validation("status", $"status must be one of {string.Join(", ", Enum.GetNames<DeliveryStatus>().Select(n => n.ToLowerInvariant()))}.");
        }
        var take = KeysetCursor.Limit(query.Limit);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WebhookRows.GetAsync(c, tx, me.TenantId, query.WebhookId, forUpdate: false, ct);
            return await Deliveries.ListAsync(c, tx, me.TenantId, query.WebhookId, null, status, take, ct);
        }, ct);
    }
}

/// <summary>A dead delivery goes back to the queue with fresh attempts (the same <c>webhook-id</c>: receivers deduplicate by it).</summary>
internal sealed class ReplayDeliveryHandler(Db db, AuditTrail audit) : IHandler<ReplayDelivery, DeliveryResponse>
{
    public async Task<DeliveryResponse> HandleAsync(ReplayDelivery command, CurrentUser me, CancellationToken ct)
    {
        WebhookRows.RequireAdmin(me);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var endpoint = await WebhookRows.GetAsync(c, tx, me.TenantId, command.WebhookId, forUpdate: false, ct);
            var found = await Deliveries.ListAsync(c, tx, me.TenantId, command.WebhookId, command.DeliveryId, null, 1, ct);
            if (found.Count == 0)
            {
                throw ApiProblem.NotFound("delivery");
            }
            var moved = WebhookStates.CanMove(DeliveryStatus.Dead, DeliveryStatus.Pending) ? await c.ExecuteAsync(new CommandDefinition($"""
                UPDATE webhook_deliveries SET status = {DeliveryStatus.Pending.Sql()}, attempts = 0, available_at = now(), finished_at = NULL,
                                              locked_by = NULL, locked_until = NULL
                WHERE tenant_id = @tenant AND id = @id AND endpoint_id = @endpoint AND status = {DeliveryStatus.Dead.Sql()}
                """, new { tenant = me.TenantId, id = command.DeliveryId, endpoint = command.WebhookId }, tx, cancellationToken: ct)) : 0;
            if (moved == 0)
            {
                throw ApiProblem.Conflict("webhook.delivery_not_dead", "Only a dead delivery can be replayed; this one is still queued or was delivered.");
            }
            // A replay on a paused endpoint is its next probe.
            if (endpoint.Circuit == Circuit.Open)
            {
                await c.ExecuteAsync(new CommandDefinition("UPDATE webhook_endpoints SET probe_at = now() WHERE tenant_id = @tenant AND id = @id",
                    new { tenant = me.TenantId, id = command.WebhookId }, tx, cancellationToken: ct));
            }
            await audit.RecordAsync(c, tx, "webhook.delivery_replayed", "webhook", command.WebhookId, new { deliveryId = command.DeliveryId }, ct: ct);
            return (await Deliveries.ListAsync(c, tx, me.TenantId, command.WebhookId, command.DeliveryId, null, 1, ct))[0];
        }, ct);
    }
}

internal static class Deliveries
{
    private sealed class Row
    {
        public Guid Id { get; init; }
        public Guid EventId { get; init; }
        public string EventType { get; init; } = "";
        public long Sequence { get; init; }
        public DeliveryStatus Status { get; init; }
        public int Attempts { get; init; }
        public DateTime AvailableAt { get; init; }
        public int? LastStatus { get; init; }
        public string? LastError { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime? FinishedAt { get; init; }
    }

    private sealed record AttemptRow(Guid DeliveryId, int Attempt, DateTime At, int? StatusCode, int LatencyMs, string? Error);

    /// <summary>The endpoint's deliveries, newest first (or the one <paramref name="deliveryId"/>), each with its attempts.</summary>
    public static async Task<IReadOnlyList<DeliveryResponse>> ListAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid endpoint, Guid? deliveryId,
        DeliveryStatus? status, int take, CancellationToken ct)
    {
        var rows = (await c.QueryAsync<Row>(new CommandDefinition("""
            SELECT d.id, d.event_id, e.type AS event_type, e.sequence, d.status, d.attempts, d.available_at, d.last_status, d.last_error, d.created_at, d.finished_at
            FROM webhook_deliveries d JOIN webhook_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
            WHERE d.tenant_id = @tenant AND d.endpoint_id = @endpoint AND (@deliveryId::uuid IS NULL OR d.id = @deliveryId)
              AND (@status::text IS NULL OR d.status = @status)
            ORDER BY d.created_at DESC, d.id DESC LIMIT @take
            """, new { tenant, endpoint, deliveryId, status = status?.Db(), take }, tx, cancellationToken: ct))).ToList();
        var attempts = (await c.QueryAsync<AttemptRow>(new CommandDefinition("""
            SELECT delivery_id, attempt, at, status_code, latency_ms, error FROM webhook_attempts
            WHERE tenant_id = @tenant AND delivery_id = ANY(@ids) ORDER BY at, id
            """, new { tenant, ids = rows.Select(r => r.Id).ToArray() }, tx, cancellationToken: ct))).ToLookup(a => a.DeliveryId);
        return rows.Select(r => new DeliveryResponse(r.Id, r.EventId, r.EventType, r.Sequence, r.Status.ToString().ToLowerInvariant(), r.Attempts,
            r.Status == DeliveryStatus.Pending ? r.AvailableAt : null, r.LastStatus, r.LastError, r.CreatedAt, r.FinishedAt,
            attempts[r.Id].Select(a => new DeliveryAttempt(a.Attempt, a.At, a.StatusCode, a.LatencyMs, a.Error)).ToList())).ToList();
    }
}
