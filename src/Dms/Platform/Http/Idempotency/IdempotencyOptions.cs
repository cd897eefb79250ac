namespace Dms.Platform.Http.Idempotency;

/// <summary><c>Dms__Idempotency__…</c>: how long keys are kept and how a retry waits for the first request (docs/api.md).</summary>
internal sealed class IdempotencyOptions
{
    /// <summary>How long a finished request's answer is kept for replays (from when it finished).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long a retry waits for the first request with its key to finish before answering 409 <c>idempotency.in_progress</c>.</summary>
    public TimeSpan WaitForInProgress { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The running request renews its claim on the key every third of this; a node that died mid-request frees the key
    /// for a retry after at most this long.
    /// </summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often worker nodes delete keys past their retention.</summary>
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Answers larger than this are not kept: a retry learns that the request ran (409 <c>idempotency.response_unavailable</c>).</summary>
    public int MaxStoredResponseBytes { get; set; } = 1024 * 1024;
}
