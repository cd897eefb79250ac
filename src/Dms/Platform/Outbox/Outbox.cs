using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Npgsql;

namespace Dms.Platform.Outbox;

/// <summary>A side effect to carry out after a state change; written in the state change's transaction.</summary>
internal sealed record OutboxMessage(Guid Id, Guid TenantId, string Type, string Payload, int Attempts)
{
    public T Read<T>() => JsonSerializer.Deserialize<T>(Payload, Outbox.Json)
        ?? throw new InvalidOperationException($"Outbox message {Id} of type {Type} has an empty payload.");
}

/// <summary>Handles one message type. Must be idempotent: a message can be delivered more than once.</summary>
internal interface IOutboxHandler
{
    string Type { get; }

    /// <summary>Which dispatcher runs it: slow work (extraction, rendering) never queues in front of approvals.</summary>
    OutboxLane Lane => OutboxLane.Default;

    /// <summary>
    /// Messages with the same key (e.g. of one approval) never run at once on a node and run in claim order; null, the
    /// default, orders nothing, so the message runs beside any other of its lane (ADR 0040).
    /// </summary>
    string? OrderKey(OutboxMessage message) => null;

    Task HandleAsync(OutboxMessage message, CancellationToken ct);
}

/// <summary>
/// A dispatcher of its own per lane: <see cref="Default"/> for short state changes (approvals, notifications, purges),
/// <see cref="Background"/> for work that takes seconds per message (text extraction, previews), with a longer lease.
/// </summary>
internal enum OutboxLane
{
    Default,
    Background,

    /// <summary>Rendering previews (LibreOffice takes seconds a file): of its own, so text extraction never waits behind it.</summary>
    Previews,

    /// <summary>
    /// E-mail over SMTP: of its own, so a mail server that is down or slow never delays approvals, and with its own
    /// attempt budget (<see cref="MailLaneOptions"/>), long enough to ride out an outage of hours.
    /// </summary>
    Mail,

    /// <summary>
    /// Notifications (in-app rows, mail queued): of their own, so an approval's execution never waits behind the
    /// notifications of the approvals decided before it (ADR 0040). Same lease, batch and attempts as the default lane.
    /// </summary>
    Notifications,
}

/// <summary>A failure that no retry can fix: the message goes straight to the dead letters.</summary>
internal sealed class PermanentOutboxFailure(string message) : Exception(message);

internal static class Outbox
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Adds a message in the caller's transaction: it exists if and only if the state change commits. It carries the
    /// current trace context (W3C traceparent under <see cref="DmsTelemetry.TraceKey"/>), so its handler's span joins the
    /// trace of the request that wrote it.
    /// </summary>
    public static Task EnqueueAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, string type, object payload, CancellationToken ct)
    {
        var json = JsonSerializer.SerializeToNode(payload, Json);
        if (Activity.Current is { } activity && json is JsonObject fields)
        {
            fields[DmsTelemetry.TraceKey] = activity.Id;
        }
        return c.ExecuteAsync(new CommandDefinition(
            "INSERT INTO outbox_messages (id, tenant_id, type, payload) VALUES (@id, @tenantId, @type, @payload::jsonb)",
            new { id = Guid.CreateVersion7(), tenantId, type, payload = json?.ToJsonString(Json) ?? "null" }, tx, cancellationToken: ct));
    }

    /// <summary>The trace context a message was written in, when there was one.</summary>
    public static ActivityContext TraceOf(OutboxMessage message)
    {
        try
        {
            return JsonNode.Parse(message.Payload) is JsonObject fields && fields[DmsTelemetry.TraceKey]?.GetValue<string>() is { } id
                && ActivityContext.TryParse(id, null, out var context) ? context : default;
        }
        catch (JsonException)
        {
            return default;
        }
    }

    /// <summary>
    /// Settles the dead messages of <paramref name="type"/> whose payload has <paramref name="property"/> = <paramref name="value"/>
    /// (an admin gave up on them): they end Done. Returns the last error of the dead ones, or null when there is none
    /// dead or one is still pending or running (then nothing changes).
    /// </summary>
    public static async Task<(bool Settled, string? LastError)> SettleDeadAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, string type,
        string property, string value, CancellationToken ct)
    {
        var messages = (await c.QueryAsync<(Guid Id, OutboxStatus Status, string? LastError)>(new CommandDefinition("""
            SELECT id, status, last_error FROM outbox_messages
            WHERE tenant_id = @tenantId AND type = @type AND payload->>@property = @value
            ORDER BY created_at FOR UPDATE
            """, new { tenantId, type, property, value }, tx, cancellationToken: ct))).ToList();
        if (messages.Count == 0 || messages.Any(m => OutboxStates.Open.Contains(m.Status)) || !messages.Any(m => m.Status == OutboxStatus.Dead))
        {
            return (false, null);
        }
        await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE outbox_messages SET status = {OutboxStatus.Done.Sql()}, processed_at = now(), last_error = 'Given up by an admin: ' || coalesce(last_error, '')
            WHERE id = ANY(@ids) AND status = {OutboxStatus.Dead.Sql()}
            """, new { ids = messages.Where(m => m.Status == OutboxStatus.Dead).Select(m => m.Id).ToArray() }, tx, cancellationToken: ct));
        return (true, messages.Last(m => m.Status == OutboxStatus.Dead).LastError);
    }
}

internal sealed class OutboxOptions
{
    public int MaxAttempts { get; set; } = 10;
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);
    public int BatchSize { get; set; } = 20;

    /// <summary>Messages one node runs at once on the default and notification lanes (ADR 0040); 1 runs a batch serially.</summary>
    public int Concurrency { get; set; } = 8;
    public TimeSpan BaseBackoff { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The background lane (extraction, previews): its lease bounds one message's run time.</summary>
    public BackgroundLaneOptions Background { get; set; } = new();

    /// <summary>The mail lane: its lease, batch and attempt budget.</summary>
    public MailLaneOptions Mail { get; set; } = new();

    public TimeSpan Lease(OutboxLane lane) => lane switch
    {
        OutboxLane.Default or OutboxLane.Notifications => LeaseDuration,
        OutboxLane.Mail => Mail.LeaseDuration,
        _ => Background.LeaseDuration,
    };

    public int Batch(OutboxLane lane) => lane switch
    {
        // A batch smaller than the concurrency would leave slots idle.
        OutboxLane.Default or OutboxLane.Notifications => Math.Max(BatchSize, Parallelism(lane)),
        OutboxLane.Mail => Mail.BatchSize,
        _ => Background.BatchSize,
    };

    /// <summary>Messages of <paramref name="lane"/> a node runs at once; the slow lanes spawn processes and keep their own small limit.</summary>
    public int Parallelism(OutboxLane lane) => Math.Max(1, lane switch
    {
        OutboxLane.Default or OutboxLane.Notifications => Concurrency,
        OutboxLane.Mail => Mail.Concurrency,
        _ => Background.Concurrency,
    });

    /// <summary>Attempts before a message of <paramref name="lane"/> is dead.</summary>
    public int Attempts(OutboxLane lane) => lane == OutboxLane.Mail ? Mail.MaxAttempts : MaxAttempts;

    /// <summary>Exponential backoff with full jitter: a random delay in [½·d, d] where d doubles per attempt.</summary>
    public TimeSpan Backoff(int attempts)
    {
        var exponential = BaseBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempts - 1, 30));
        var capped = Math.Min(exponential, MaxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.5 + Random.Shared.NextDouble() / 2));
    }
}

internal sealed class BackgroundLaneOptions
{
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(5);
    public int BatchSize { get; set; } = 4;

    /// <summary>Messages run at once per slow lane and node: each may start a converter process (LibreOffice, pdftotext).</summary>
    public int Concurrency { get; set; } = 1;
}

internal sealed class MailLaneOptions
{
    /// <summary>Bounds one message's SMTP conversation (connect, send, quit), together with <c>Dms__Mail__Timeout</c>.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);
    public int BatchSize { get; set; } = 10;

    /// <summary>Mails sent at once per node: one SMTP conversation at a time, so a slow server is not hit harder.</summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>
    /// With the default backoff (2 s doubling to 10 min, jittered to ½–1×) 30 attempts span about three hours: a mail
    /// server down for two hours delays mail, it does not lose it.
    /// </summary>
    public int MaxAttempts { get; set; } = 30;
}
