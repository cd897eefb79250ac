using System.Text.Json;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Billing.Subscriptions;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Billing.Webhook;

/// <summary>What applying a stored event did, kept in <c>billing_events.outcome</c>.</summary>
internal enum BillingEventOutcome
{
    /// <summary>The subscription follows the event (its status may have stayed the same, e.g. a renewal).</summary>
    Applied,

    /// <summary>A newer event (by the provider's <c>created</c>) was applied already: this one changes nothing.</summary>
    Stale,

    /// <summary>A type this application does not act on: stored for the record only.</summary>
    Ignored,

    /// <summary>The tenant has no subscription, or the state machine does not allow the move (a canceled subscription stays canceled).</summary>
    NotApplicable,
}

internal static class BillingEventOutcomes
{
    public static string Json(this BillingEventOutcome outcome) => outcome switch
    {
        BillingEventOutcome.Applied => "applied",
        BillingEventOutcome.Stale => "stale",
        BillingEventOutcome.Ignored => "ignored",
        _ => "not_applicable",
    };
}

/// <summary>The provider's event types this application acts on, and the status each one leads to.</summary>
internal static class BillingEventTypes
{
    public const string Activated = "subscription.activated";
    public const string PaymentSucceeded = "payment.succeeded";
    public const string PaymentFailed = "payment.failed";
    public const string Paused = "subscription.paused";
    public const string Canceled = "subscription.canceled";

    public static SubscriptionStatus? Target(string type) => type switch
    {
        Activated or PaymentSucceeded => SubscriptionStatus.Active,
        PaymentFailed => SubscriptionStatus.PastDue,
        Paused => SubscriptionStatus.Paused,
        Canceled => SubscriptionStatus.Canceled,
        _ => null,
    };
}

/// <summary>
/// The billing event store: an event is stored once (its id is the key) with an outbox message to apply it, in one
/// transaction; applying locks the event row, so concurrent or repeated applies of one event serialise and the second
/// finds it done (<c>applied_at</c> set). Order comes from the provider's <c>created</c>, compared with the last one
/// applied to the subscription (docs/billing.md).
/// </summary>
internal sealed class BillingEvents(Db db, SubscriptionCache states, TimeProvider clock, IOptions<BillingOptions> options)
{
    public const string ApplyMessage = "billing.apply";

    /// <summary>Stores the event; false when an event with this id was stored before (a duplicate delivery).</summary>
    public Task<bool> StoreAsync(Guid tenant, string id, string type, DateTime created, string payload, CancellationToken ct) =>
        db.InTenantAsync(tenant, async (c, tx) =>
        {
            var stored = await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO billing_events (tenant_id, id, type, created, payload, received_at)
                VALUES (@tenant, @id, @type, @created, @payload::jsonb, @now)
                ON CONFLICT (tenant_id, id) DO NOTHING
                """, new { tenant, id, type, created, payload, now = clock.GetUtcNow().UtcDateTime }, tx, cancellationToken: ct)) == 1;
            if (stored)
            {
                await Outbox.EnqueueAsync(c, tx, tenant, ApplyMessage, new ApplyBillingEvent(id), ct);
            }
            return stored;
        }, ct);

    /// <summary>Applies a stored event once; applying it again (a duplicate, the outbox after a crash) returns its first outcome.</summary>
    public async Task<BillingEventOutcome> ApplyAsync(Guid tenant, string id, CancellationToken ct)
    {
        var (outcome, changed) = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            var stored = await c.QuerySingleOrDefaultAsync<StoredEvent>(new CommandDefinition("""
                SELECT type, created, payload::text AS payload, outcome FROM billing_events WHERE tenant_id = @tenant AND id = @id FOR UPDATE
                """, new { tenant, id }, tx, cancellationToken: ct)) ?? throw new InvalidOperationException($"Billing event {id} is not stored.");
            if (stored.Outcome is { } done)
            {
                return (Enum.Parse<BillingEventOutcome>(done), false);
            }
            var now = clock.GetUtcNow().UtcDateTime;
            var (result, change) = await DecideAsync(c, tx, tenant, id, stored, now, ct);
            await c.ExecuteAsync(new CommandDefinition("UPDATE billing_events SET applied_at = @now, outcome = @result WHERE tenant_id = @tenant AND id = @id",
                new { tenant, id, now, result = result.Db() }, tx, cancellationToken: ct));
            return (result, change);
        }, ct);
        if (changed)
        {
            states.Forget(tenant);
        }
        return outcome;
    }

    private async Task<(BillingEventOutcome, bool)> DecideAsync(Npgsql.NpgsqlConnection c, Npgsql.NpgsqlTransaction tx, Guid tenant, string id, StoredEvent stored,
        DateTime now, CancellationToken ct)
    {
        if (BillingEventTypes.Target(stored.Type) is not { } to)
        {
            return (BillingEventOutcome.Ignored, false);
        }
        if (await SubscriptionCache.ReadAsync(c, tx, tenant, forUpdate: true, ct) is not { } subscription)
        {
            return (BillingEventOutcome.NotApplicable, false);
        }
        if (subscription.LastEventCreated is { } last && stored.Created < last)
        {
            return (BillingEventOutcome.Stale, false);
        }
        var from = subscription.Status;
        if (from != to && !SubscriptionStates.CanMove(from, to))
        {
            return (BillingEventOutcome.NotApplicable, false);
        }
        var periodEnd = PeriodEnd(stored.Payload);
        if (from == to)
        {
            // A renewal or a repeated notice: the order mark and the period move on, the status does not (no transition to audit).
            await c.ExecuteAsync(new CommandDefinition("""
                UPDATE tenant_subscriptions SET last_event_created = @created, last_event_id = @id, current_period_end = coalesce(@periodEnd, current_period_end),
                       updated_at = @now
                WHERE tenant_id = @tenant
                """, new { tenant, id, created = stored.Created, periodEnd, now }, tx, cancellationToken: ct));
            return (BillingEventOutcome.Applied, false);
        }
        await MoveAsync(c, tx, tenant, from, to, stored.Created, now, options.Value.DeletionDelay, new { eventId = id, eventType = stored.Type }, ct,
            lastEvent: (id, stored.Created), periodEnd: periodEnd);
        return (BillingEventOutcome.Applied, true);
    }

    /// <summary>
    /// The one place a subscription's status changes (webhook events and the trial pass): the transition must be allowed by
    /// <see cref="SubscriptionStates"/>, its dates follow, and it is audited once as <c>subscription.changed</c>.
    /// <paramref name="at"/> is when it happened (the provider's time of the event, or the trial's end).
    /// </summary>
    public static async Task MoveAsync(Npgsql.NpgsqlConnection c, Npgsql.NpgsqlTransaction tx, Guid tenant, SubscriptionStatus from, SubscriptionStatus to,
        DateTime at, DateTime now, TimeSpan deletionDelay, object cause, CancellationToken ct, (string Id, DateTime Created)? lastEvent = null, DateTime? periodEnd = null)
    {
        if (!SubscriptionStates.CanMove(from, to))
        {
            throw new InvalidOperationException($"A subscription cannot move from {from} to {to}.");
        }
        var moved = await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE tenant_subscriptions SET
                status = @to, status_changed_at = @now, updated_at = @now,
                past_due_since = CASE WHEN @to = {SubscriptionStatus.PastDue.Sql()} THEN @at WHEN @to = {SubscriptionStatus.Active.Sql()} THEN NULL ELSE past_due_since END,
                canceled_at = CASE WHEN @to = {SubscriptionStatus.Canceled.Sql()} THEN @at ELSE canceled_at END,
                deletion_scheduled_at = CASE WHEN @to = {SubscriptionStatus.Canceled.Sql()} THEN @deletion ELSE deletion_scheduled_at END,
                current_period_end = coalesce(@periodEnd, current_period_end),
                last_event_created = coalesce(@lastCreated, last_event_created), last_event_id = coalesce(@lastId, last_event_id)
            WHERE tenant_id = @tenant AND status = @from
            """, new
        {
            tenant,
            from = from.Db(),
            to = to.Db(),
            at,
            now,
            deletion = at + deletionDelay,
            periodEnd,
            lastCreated = lastEvent?.Created,
            lastId = lastEvent?.Id,
        }, tx, cancellationToken: ct));
        if (moved != 1)
        {
            throw new InvalidOperationException($"The subscription of tenant {tenant} was not {from} when moving it to {to}.");
        }
        await AuditTrail.RecordDetachedAsync(c, tx, new AuditActor("system", null, "billing"), "subscription.changed", "tenant", tenant,
            new { from = from.Json(), to = to.Json(), cause }, ct);
        await SubscriptionCache.ChangedAsync(c, tx, tenant, ct);
    }

    private static DateTime? PeriodEnd(string payload)
    {
        using var json = JsonDocument.Parse(payload);
        return json.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object &&
            data.TryGetProperty("currentPeriodEnd", out var end) && end.ValueKind == JsonValueKind.Number && end.TryGetInt64(out var seconds) &&
            seconds is > 0 and < 253402300799
            ? DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime
            : null;
    }

    private sealed record StoredEvent(string Type, DateTime Created, string Payload, string? Outcome);
}

internal sealed record ApplyBillingEvent(string EventId);

/// <summary>Applies a stored event after a crash (or repeats a done apply, which changes nothing).</summary>
internal sealed class ApplyBillingEventHandler(BillingEvents events) : IOutboxHandler
{
    public string Type => BillingEvents.ApplyMessage;

    public Task HandleAsync(OutboxMessage message, CancellationToken ct) => events.ApplyAsync(message.TenantId, message.Read<ApplyBillingEvent>().EventId, ct);
}
