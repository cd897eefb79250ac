namespace Dms.Platform.Http.Idempotency;

/// <summary>
/// A key's state, stored by name in <c>idempotency_keys.state</c>. Every move is one statement of
/// <see cref="IdempotencyStore"/>: a key that is not there (never used, past its retention, or released) is claimed into
/// InProgress; InProgress ends Completed, or is released (the row deleted) after a 5xx or an exception, or is claimed
/// again by a retry once its lease ran out (its node died). Completed is final until the key expires.
/// </summary>
internal enum IdempotencyKeyState
{
    /// <summary>A request holds the key until <c>locked_until</c> (renewed while it runs).</summary>
    InProgress,

    /// <summary>The request finished below 500: its fingerprint and answer are kept until <c>expires_at</c>.</summary>
    Completed,
}
