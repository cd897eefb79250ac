namespace Dms.Platform.Outbox;

/// <summary>An outbox message's state, stored by name in <c>outbox_messages.status</c>.</summary>
internal enum OutboxStatus
{
    /// <summary>Due at <c>available_at</c>: waiting for a dispatcher.</summary>
    Pending,

    /// <summary>Leased by a dispatcher until <c>locked_until</c>.</summary>
    Processing,

    /// <summary>Handled (or settled by an admin who gave up on it).</summary>
    Done,

    /// <summary>Out of attempts or permanently failed: waits for an admin (replay, or give up).</summary>
    Dead,
}

/// <summary>The outbox state machine: every allowed move in one place (the claim itself is <c>outbox_claim</c>, migration 0007).</summary>
internal static class OutboxStates
{
    private static readonly Dictionary<OutboxStatus, OutboxStatus[]> Next = new()
    {
        [OutboxStatus.Pending] = [OutboxStatus.Processing],
        // Handled; failed with attempts left (retry later) or released at shutdown; out of attempts.
        [OutboxStatus.Processing] = [OutboxStatus.Done, OutboxStatus.Pending, OutboxStatus.Dead],
        [OutboxStatus.Done] = [],
        // Replayed, or settled by an admin who gave up on what it would have done.
        [OutboxStatus.Dead] = [OutboxStatus.Pending, OutboxStatus.Done],
    };

    /// <summary>States in which a message may still run.</summary>
    public static readonly OutboxStatus[] Open = [OutboxStatus.Pending, OutboxStatus.Processing];

    public static bool CanMove(OutboxStatus from, OutboxStatus to) => Next[from].Contains(to);
}
