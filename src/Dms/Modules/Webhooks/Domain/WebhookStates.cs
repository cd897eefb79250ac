namespace Dms.Modules.Webhooks.Domain;

/// <summary>A delivery's state, stored by name in <c>webhook_deliveries.status</c>.</summary>
internal enum DeliveryStatus
{
    /// <summary>Due at <c>available_at</c> (waiting for the worker, or for its endpoint to be resumed).</summary>
    Pending,

    /// <summary>Leased by a worker until <c>locked_until</c>: being sent.</summary>
    Sending,

    /// <summary>The receiver answered 2xx.</summary>
    Delivered,

    /// <summary>Out of attempts: waits for an admin to replay it.</summary>
    Dead,
}

/// <summary>An endpoint's circuit breaker, stored by name in <c>webhook_endpoints.circuit</c>.</summary>
internal enum Circuit
{
    /// <summary>Deliveries flow.</summary>
    Closed,

    /// <summary>Paused after too many failures in a row: deliveries wait, one probe goes through now and then.</summary>
    Open,
}

/// <summary>Every allowed move of a delivery and of a circuit, in one place (the claim itself is <c>webhook_claim</c>, migration 0018).</summary>
internal static class WebhookStates
{
    private static readonly Dictionary<DeliveryStatus, DeliveryStatus[]> Next = new()
    {
        [DeliveryStatus.Pending] = [DeliveryStatus.Sending],
        // Delivered; failed with attempts left (retry later) or handed back at shutdown; out of attempts.
        [DeliveryStatus.Sending] = [DeliveryStatus.Delivered, DeliveryStatus.Pending, DeliveryStatus.Dead],
        [DeliveryStatus.Delivered] = [],
        // Replayed by an admin.
        [DeliveryStatus.Dead] = [DeliveryStatus.Pending],
    };

    private static readonly Dictionary<Circuit, Circuit[]> CircuitNext = new()
    {
        // Too many failures in a row.
        [Circuit.Closed] = [Circuit.Open],
        // A probe got through, or an admin resumed the endpoint.
        [Circuit.Open] = [Circuit.Closed],
    };

    public static bool CanMove(DeliveryStatus from, DeliveryStatus to) => Next[from].Contains(to);

    public static bool CanMove(Circuit from, Circuit to) => CircuitNext[from].Contains(to);

    /// <summary>The states a delivery can be moved to <paramref name="to"/> from, for SQL's <c>status IN (…)</c>.</summary>
    public static DeliveryStatus[] From(DeliveryStatus to) => Next.Where(n => n.Value.Contains(to)).Select(n => n.Key).ToArray();
}
