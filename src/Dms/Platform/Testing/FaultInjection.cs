using System.Diagnostics;

namespace Dms.Platform.Testing;

/// <summary>
/// <c>Dms__Testing__…</c>: the one switch for test-only faults. Everything here is off unless a setting turns it on,
/// and nothing else in the code base injects faults.
/// </summary>
internal sealed class TestingOptions
{
    /// <summary>After claiming this many outbox messages (of <see cref="KillOnOutboxType"/>, when set) the process kills itself (0: never).</summary>
    public int KillAfterOutboxClaims { get; set; }

    /// <summary>Counts only claims of this message type (empty: every type).</summary>
    public string KillOnOutboxType { get; set; } = "";

    /// <summary>
    /// Each outbox message waits this long after its claim hook, before its handler, so that a test sees several messages
    /// of one lane in flight at once (zero: no wait).
    /// </summary>
    public TimeSpan OutboxHandlerDelay { get; set; }

    /// <summary>The process kills itself right after a billing webhook event is stored and committed, before it is applied.</summary>
    public bool KillAfterBillingEventStored { get; set; }

    /// <summary>The process kills itself while chaining audit events: after sealing a batch, before committing it.</summary>
    public bool KillWhileChainingAudit { get; set; }
    /// <summary>A tenant move fails right after this step (copy, delta or verify) and rolls back (empty: never).</summary>
    public string FailTenantMoveAt { get; set; } = "";

    /// <summary>
    /// The first outbox claim that leased a message of this type loses its answer, as when the database stops right after
    /// committing the claim (empty: never): the claim stays committed and the dispatcher sees a connection failure.
    /// </summary>
    public string LoseOutboxClaimOfType { get; set; } = "";
}

/// <summary>Crash tests' hook: dies like a SIGKILL at a chosen point, with what was committed committed.</summary>
internal sealed class FaultInjection(Microsoft.Extensions.Options.IOptions<Configuration.DmsOptions> options)
{
    private int _claims;
    private int _lostClaims;

    /// <summary>How many claim answers <see cref="OutboxClaimAnswered"/> threw away.</summary>
    public int LostClaims => _lostClaims;

    /// <summary>Called by the outbox dispatcher with a committed claim's messages, before it uses them.</summary>
    public void OutboxClaimAnswered(IEnumerable<string> types)
    {
        if (Settings.LoseOutboxClaimOfType.Length > 0 && types.Contains(Settings.LoseOutboxClaimOfType, StringComparer.Ordinal)
            && Interlocked.CompareExchange(ref _lostClaims, 1, 0) == 0)
        {
            throw new Npgsql.NpgsqlException("fault injection: the outbox claim's answer was lost", new IOException("connection reset"));
        }
    }

    private TestingOptions Settings => options.Value.Testing;

    /// <summary>
    /// Called by the outbox dispatcher when it is about to handle a claimed message, with how many messages of its lane the
    /// node has in flight (this one included).
    /// </summary>
    public async Task OutboxMessageClaimedAsync(Guid messageId, string type, Func<int> inFlight)
    {
        if (Settings.OutboxHandlerDelay > TimeSpan.Zero)
        {
            await Task.Delay(Settings.OutboxHandlerDelay);
        }
        if (Settings.KillAfterOutboxClaims <= 0 || (Settings.KillOnOutboxType.Length > 0 && Settings.KillOnOutboxType != type))
        {
            return;
        }
        if (Interlocked.Increment(ref _claims) >= Settings.KillAfterOutboxClaims)
        {
            Die($"claiming outbox message {messageId} ({inFlight()} in flight on its lane)");
        }
    }

    /// <summary>Called by the billing webhook once the event and its outbox message are committed, before applying it.</summary>
    public void BillingEventStored(string eventId)
    {
        if (Settings.KillAfterBillingEventStored)
        {
            Die($"storing billing event {eventId}");
        }
    }

    /// <summary>Called by the audit chainer with a batch sealed in its still open transaction.</summary>
    public void AuditBatchSealed(Guid tenant, int events)
    {
        if (Settings.KillWhileChainingAudit)
        {
            Die($"sealing {events} audit events of tenant {tenant} (not committed)");
        }
    }

    /// <summary>
    /// Tests' hook into a tenant move: awaited after each step (copy: the bulk copy is committed on the target and not yet
    /// verified, the tenant is live; delta; verify), before the step's fault. Set in code only, never from configuration.
    /// </summary>
    public Func<string, Task>? TenantMoveHook { get; set; }

    /// <summary>Called by the tenant mover after each step; throws (the mover rolls back) when the step is the chosen one.</summary>
    public async Task TenantMoveStepAsync(string step)
    {
        if (TenantMoveHook is { } hook)
        {
            await hook(step);
        }
        TenantMoveStep(step);
    }

    private void TenantMoveStep(string step)
    {
        if (Settings.FailTenantMoveAt.Length > 0 && string.Equals(Settings.FailTenantMoveAt, step, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"fault injection: the tenant move fails after its {step} step");
        }
    }

    private static void Die(string after)
    {
        // Written synchronously: the console logger's queue would die with the process.
        Console.Error.WriteLine($"dms: fault injection: killing the process after {after}");
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
    }
}
