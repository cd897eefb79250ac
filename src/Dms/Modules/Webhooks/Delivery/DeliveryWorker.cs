using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Notifications;
using Dms.Modules.Webhooks.Domain;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Webhooks.Delivery;

/// <summary>
/// Sends due deliveries of every tenant, off every request's path. It leases them through <c>webhook_claim</c> (SKIP LOCKED,
/// so several nodes share the work), at most <see cref="WebhookOptions.MaxInFlight"/> at once per node and
/// <see cref="WebhookOptions.MaxInFlightPerEndpoint"/> per endpoint, each in a task of its own: a slow or failing receiver
/// holds only its own share and never the others'. Each attempt is logged; a failure is retried on the schedule, then
/// the delivery is dead; too many failures in a row pause the endpoint (its admins are told) until a probe gets through.
/// </summary>
internal sealed class DeliveryWorker(TenantDatabases databases, Db db, WebhookSender sender, WebhookSecrets secrets, IOptions<WebhookOptions> options,
    TimeProvider clock, ILogger<DeliveryWorker> logger) : BackgroundService
{
    private readonly string _node = $"{Environment.MachineName}:{Environment.ProcessId}:webhooks:{Guid.NewGuid():N}";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private WebhookOptions Settings => options.Value;
    private TimeSpan Lease => Settings.Timeout * 2 + TimeSpan.FromSeconds(30);

    internal sealed record Claimed(Guid Id, Guid TenantId, Guid EndpointId, Guid EventId, int Attempts);

    private sealed class Work
    {
        public string Url { get; init; } = "";
        public bool Enabled { get; init; }
        public Circuit Circuit { get; init; }
        public string Secret { get; init; } = "";
        public string? PreviousSecret { get; init; }
        public DateTime? PreviousSecretUntil { get; init; }
        public string Type { get; init; } = "";
        public long Sequence { get; init; }
        public string Data { get; init; } = "{}";
        public DateTime OccurredAt { get; init; }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        WebhookMetrics.Start();
        var max = Math.Max(1, Settings.MaxInFlight);
        using var slots = new SemaphoreSlim(max, max);
        var running = new List<Task>();
        var nextCleanup = DateTime.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (clock.GetUtcNow().UtcDateTime >= nextCleanup)
                {
                    await CleanupAsync(stoppingToken);
                    nextCleanup = clock.GetUtcNow().UtcDateTime + TimeSpan.FromHours(1);
                }
                await slots.WaitAsync(stoppingToken);
                var free = 1;
                while (free < max && slots.Wait(0, CancellationToken.None))
                {
                    free++;
                }
                List<Claimed> claimed;
                try
                {
                    claimed = await ClaimAsync(free, stoppingToken);
                }
                catch
                {
                    slots.Release(free);
                    throw;
                }
                if (free > claimed.Count)
                {
                    slots.Release(free - claimed.Count);
                }
                running.RemoveAll(t => t.IsCompleted);
                foreach (var delivery in claimed)
                {
                    running.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await DeliverAsync(delivery);
                        }
                        catch (Exception ex)
                        {
                            logger.LogWarning(ex, "Webhook delivery {DeliveryId} could not be recorded; its lease will run out and it will be tried again", delivery.Id);
                        }
                        finally
                        {
                            slots.Release();
                        }
                    }, CancellationToken.None));
                }
                if (claimed.Count == 0)
                {
                    await Task.Delay(Settings.PollInterval, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Webhook worker pass failed (database unreachable?); retrying");
                try
                {
                    await Task.Delay(Settings.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        // Deliveries in hand finish (each is bounded by the timeout); their outcome is recorded.
        await Task.WhenAll(running);
    }

    private async Task CleanupAsync(CancellationToken ct)
    {
        var removed = 0;
        // Every database that holds tenants (ADR 0036): the main one and each moved tenant's.
        foreach (var dataSource in await databases.AllAsync(ct))
        {
            await using var conn = await dataSource.OpenConnectionAsync(ct);
            removed += await conn.ExecuteScalarAsync<int>(new CommandDefinition("SELECT webhook_cleanup(@keep)", new { keep = Settings.LogRetention }, cancellationToken: ct));
        }
        if (removed > 0)
        {
            logger.LogInformation("Removed {Count} finished webhook deliveries older than {Retention}", removed, Settings.LogRetention);
        }
    }

    /// <summary>
    /// Claims up to <paramref name="batch"/> deliveries in every database that holds tenants (the main one first, then each
    /// moved tenant's, ADR 0036); what happens to a delivery afterwards goes through <see cref="Db"/>, which knows where its
    /// tenant lives. The main database's claim leaves moved and frozen tenants alone (migration 0030).
    /// </summary>
    internal async Task<List<Claimed>> ClaimAsync(int batch, CancellationToken ct)
    {
        var claimed = new List<Claimed>();
        foreach (var dataSource in await databases.AllAsync(ct))
        {
            if (claimed.Count >= batch)
            {
                break;
            }
            await using var conn = await dataSource.OpenConnectionAsync(ct);
            claimed.AddRange(await conn.QueryAsync<Claimed>(new CommandDefinition(
                "SELECT id, tenant_id, endpoint_id, event_id, attempts FROM webhook_claim(@node, @batch, @lease, @perEndpoint, @probe)",
                new { node = _node, batch = batch - claimed.Count, lease = Lease, perEndpoint = Math.Max(1, Settings.MaxInFlightPerEndpoint), probe = Settings.BreakerProbeInterval },
                cancellationToken: ct)));
        }
        return claimed;
    }

    private async Task DeliverAsync(Claimed delivery)
    {
        var work = await db.InTenantAsync(delivery.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<Work>(new CommandDefinition("""
            SELECT e.url, e.enabled, e.circuit, e.secret, e.previous_secret, e.previous_secret_until, ev.type, ev.sequence, ev.data::text AS data, ev.occurred_at
            FROM webhook_endpoints e, webhook_events ev
            WHERE e.tenant_id = @tenant AND e.id = @endpoint AND ev.tenant_id = @tenant AND ev.id = @event
            """, new { tenant = delivery.TenantId, endpoint = delivery.EndpointId, @event = delivery.EventId }, tx)), CancellationToken.None);
        if (work is null)
        {
            return; // the endpoint was deleted meanwhile, and its deliveries with it
        }
        if (!work.Enabled)
        {
            await HandBackAsync(delivery);
            return;
        }

        var body = Body(work);
        var id = delivery.EventId.ToString();
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds();
        List<string> keys;
        try
        {
            keys = [secrets.Unprotect(work.Secret)];
            if (work.PreviousSecret is not null && work.PreviousSecretUntil > clock.GetUtcNow().UtcDateTime)
            {
                keys.Add(secrets.Unprotect(work.PreviousSecret));
            }
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            // A node with another key ring (or a lost one): a failed attempt that says so, not a delivery stuck in its lease.
            logger.LogError(ex, "The secret of webhook endpoint {EndpointId} cannot be decrypted on this node", delivery.EndpointId);
            await RecordAsync(delivery, work, null, "The signing secret cannot be read on this node (its Data Protection key ring differs or was lost): rotate the secret.", TimeSpan.Zero);
            return;
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, work.Url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("webhook-id", id);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature", Signatures.Header(keys, id, timestamp, body));

        int? status = null;
        string? error = null;
        var started = Stopwatch.GetTimestamp();
        using (var timeout = new CancellationTokenSource(Settings.Timeout))
        {
            try
            {
                using var response = await sender.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                status = (int)response.StatusCode;
                if (status is < 200 or > 299)
                {
                    error = status is >= 300 and < 400 ? $"The receiver answered {status} (redirects are not followed)." : $"The receiver answered {status}.";
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or BlockedTargetException)
            {
                error = Describe(ex);
            }
        }
        var latency = Stopwatch.GetElapsedTime(started);
        await RecordAsync(delivery, work, status, error, latency);
    }

    /// <summary>The body every attempt of this event sends, byte for byte.</summary>
    internal static string Body(string type, long sequence, DateTime occurredAt, string data)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WriteString("timestamp", DateTime.SpecifyKind(occurredAt, DateTimeKind.Utc));
            writer.WriteNumber("sequence", sequence);
            writer.WritePropertyName("data");
            using (var parsed = JsonDocument.Parse(data))
            {
                parsed.RootElement.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string Body(Work work) => Body(work.Type, work.Sequence, work.OccurredAt, work.Data);

    /// <summary>What admins see of a failed attempt: our wording, never a library's exception text.</summary>
    private static string Describe(Exception ex) => ex switch
    {
        BlockedTargetException => "Refused: the receiver's name resolves to an address webhooks may not reach.",
        OperationCanceledException => "No answer within the time limit.",
        HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError } => "The receiver's name could not be resolved.",
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } => "The receiver could not be reached (connection refused or failed).",
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "The TLS handshake with the receiver failed.",
        HttpRequestException { InnerException: BlockedTargetException } => "Refused: the receiver's name resolves to an address webhooks may not reach.",
        _ => "The request to the receiver failed before it answered.",
    };

    private async Task HandBackAsync(Claimed delivery) =>
        await db.InTenantAsync(delivery.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition($"""
            UPDATE webhook_deliveries SET status = {DeliveryStatus.Pending.Sql()}, locked_by = NULL, locked_until = NULL, attempts = attempts - 1
            WHERE tenant_id = @tenant AND id = @id AND locked_by = @node
            """, new { tenant = delivery.TenantId, id = delivery.Id, node = _node }, tx)), CancellationToken.None);

    private async Task RecordAsync(Claimed delivery, Work work, int? status, string? error, TimeSpan latency)
    {
        var ok = error is null;
        var dead = !ok && delivery.Attempts >= Settings.MaxAttempts;
        var next = ok ? DeliveryStatus.Delivered : dead ? DeliveryStatus.Dead : DeliveryStatus.Pending;
        if (!WebhookStates.CanMove(DeliveryStatus.Sending, next))
        {
            throw new InvalidOperationException($"A delivery cannot move from Sending to {next}.");
        }
        var outcome = ok ? "delivered" : dead ? "dead" : "retry";
        WebhookMetrics.Record(outcome, latency);
        await db.InTenantAsync(delivery.TenantId, async (c, tx) =>
        {
            var mine = await c.ExecuteAsync(new CommandDefinition($"""
                UPDATE webhook_deliveries
                SET status = @next, locked_by = NULL, locked_until = NULL, last_status = @status, last_error = @error,
                    finished_at = CASE WHEN @finished THEN now() END,
                    available_at = CASE WHEN @retry THEN now() + @delay ELSE available_at END
                WHERE tenant_id = @tenant AND id = @id AND locked_by = @node AND status = {DeliveryStatus.Sending.Sql()}
                """, new
            {
                next = next.Db(),
                status,
                error,
                finished = next != DeliveryStatus.Pending,
                retry = next == DeliveryStatus.Pending,
                delay = next == DeliveryStatus.Pending ? Settings.RetryDelay(delivery.Attempts) : TimeSpan.Zero,
                tenant = delivery.TenantId,
                id = delivery.Id,
                node = _node,
            }, tx));
            if (mine == 0)
            {
                return; // the lease ran out and another node took the delivery over: its outcome is that node's to record
            }
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO webhook_attempts (tenant_id, delivery_id, endpoint_id, attempt, status_code, latency_ms, error)
                VALUES (@tenant, @id, @endpoint, @attempt, @status, @latency, @error)
                """, new
            {
                tenant = delivery.TenantId,
                id = delivery.Id,
                endpoint = delivery.EndpointId,
                attempt = delivery.Attempts,
                status,
                latency = (int)Math.Min(latency.TotalMilliseconds, int.MaxValue),
                error,
            }, tx));
            await UpdateBreakerAsync(c, tx, delivery, work, ok);
        }, CancellationToken.None);
        if (dead)
        {
            logger.LogWarning("Webhook delivery {DeliveryId} is dead after {Attempts} attempt(s)", delivery.Id, delivery.Attempts);
        }
    }

    /// <summary>A success closes the circuit and resets the count; a failure counts, and at the threshold opens it (once) and tells the admins.</summary>
    private async Task UpdateBreakerAsync(NpgsqlConnection c, NpgsqlTransaction tx, Claimed delivery, Work work, bool ok)
    {
        if (ok)
        {
            var resumed = await c.ExecuteAsync(new CommandDefinition($"""
                UPDATE webhook_endpoints SET consecutive_failures = 0, circuit = {Circuit.Closed.Sql()}, circuit_opened_at = NULL, probe_at = NULL
                WHERE tenant_id = @tenant AND id = @endpoint AND (consecutive_failures > 0 OR circuit = {Circuit.Open.Sql()})
                """, new { tenant = delivery.TenantId, endpoint = delivery.EndpointId }, tx));
            if (work.Circuit == Circuit.Open && resumed > 0 && WebhookStates.CanMove(Circuit.Open, Circuit.Closed))
            {
                await AuditTrail.RecordDetachedAsync(c, tx, AuditActor.System, "webhook.resumed", "webhook", delivery.EndpointId,
                    new { reason = "A delivery got through while the webhook was paused." }, CancellationToken.None);
                // Its waiting deliveries are due at once rather than at their backoff times.
                await c.ExecuteAsync(new CommandDefinition($"""
                    UPDATE webhook_deliveries SET available_at = now()
                    WHERE tenant_id = @tenant AND endpoint_id = @endpoint AND status = {DeliveryStatus.Pending.Sql()} AND available_at > now()
                    """, new { tenant = delivery.TenantId, endpoint = delivery.EndpointId }, tx));
            }
            return;
        }
        var opened = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition($"""
            UPDATE webhook_endpoints
            SET consecutive_failures = consecutive_failures + 1,
                circuit = CASE WHEN consecutive_failures + 1 >= @threshold THEN {Circuit.Open.Sql()} ELSE circuit END,
                circuit_opened_at = CASE WHEN circuit = {Circuit.Closed.Sql()} AND consecutive_failures + 1 >= @threshold THEN now() ELSE circuit_opened_at END,
                probe_at = CASE WHEN consecutive_failures + 1 >= @threshold THEN now() + @probe ELSE probe_at END
            WHERE tenant_id = @tenant AND id = @endpoint
            RETURNING CASE WHEN circuit_opened_at = now() THEN consecutive_failures END
            """, new { threshold = Math.Max(1, Settings.BreakerThreshold), probe = Settings.BreakerProbeInterval, tenant = delivery.TenantId, endpoint = delivery.EndpointId }, tx));
        if (opened is { } failures && WebhookStates.CanMove(Circuit.Closed, Circuit.Open))
        {
            var host = Uri.TryCreate(work.Url, UriKind.Absolute, out var u) ? u.Authority : "its receiver";
            await AuditTrail.RecordDetachedAsync(c, tx, AuditActor.System, "webhook.paused", "webhook", delivery.EndpointId,
                new { consecutiveFailures = failures }, CancellationToken.None);
            await NotificationOutbox.ToAdminsAsync(c, tx, delivery.TenantId, null, new NotificationContent("webhook.paused",
                $"A webhook to {host} was paused",
                $"It failed {failures} times in a row. Its deliveries wait and nothing is lost: it is tried again every {Plain(Settings.BreakerProbeInterval)}, "
                + "and resumes by itself when it answers; you can also resume it, send a test event or replay dead deliveries on the Webhooks page."), CancellationToken.None);
            logger.LogWarning("Webhook endpoint {EndpointId} paused after {Failures} failures in a row", delivery.EndpointId, failures);
        }
    }

    private static string Plain(TimeSpan span) => span.TotalHours >= 1 ? $"{span.TotalHours:0.#} hours"
        : span.TotalMinutes >= 1 ? $"{span.TotalMinutes:0.#} minutes" : $"{Math.Max(1, span.TotalSeconds):0} seconds";
}

/// <summary>Deliveries by outcome and their latency (docs/observability.md).</summary>
internal static class WebhookMetrics
{
    private static readonly string[] Outcomes = ["delivered", "retry", "dead"];

    private static readonly Counter<long> Deliveries = DmsTelemetry.Meter.CreateCounter<long>("dms.webhooks.deliveries", null,
        "Webhook delivery attempts by outcome (delivered, retry, dead)");

    private static readonly Histogram<double> Duration = DmsTelemetry.Meter.CreateHistogram("dms.webhooks.delivery.duration", "s",
        "One webhook delivery attempt, until the receiver's response headers or the failure",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });

    /// <summary>Every outcome at 0 from the start, so the first one after a node starts shows as an increase.</summary>
    public static void Start()
    {
        foreach (var outcome in Outcomes)
        {
            Deliveries.Add(0, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    public static void Record(string outcome, TimeSpan latency)
    {
        Deliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        Duration.Record(latency.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }
}
