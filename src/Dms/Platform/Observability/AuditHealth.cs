using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Dms.Platform.Observability;

/// <summary>
/// What the audit trail's own checks last found, as gauges: <c>dms.audit.verification_ok</c> (1 intact, 0 broken: a
/// checkpoint pass found a chain that does not continue its checkpoint, or a verification found a broken link) and
/// <c>dms.audit.checkpoint_age</c> (seconds since the last checkpoint pass that found every chain intact). Nothing is
/// reported before the first pass on this node.
/// </summary>
internal static class AuditHealth
{
    private static int _ok = -1;
    private static long _lastGoodPass;

    static AuditHealth()
    {
        DmsTelemetry.Meter.CreateObservableGauge("dms.audit.verification_ok",
            () => _ok < 0 ? [] : new[] { new Measurement<int>(_ok) }, null, "1 when the audit chains verified, 0 when one is broken");
        DmsTelemetry.Meter.CreateObservableGauge("dms.audit.checkpoint_age",
            () => Interlocked.Read(ref _lastGoodPass) is var at && at == 0 ? [] : new[] { new Measurement<double>(Stopwatch.GetElapsedTime(at).TotalSeconds) },
            "s", "Seconds since the last checkpoint pass that found every audit chain intact");
    }

    /// <summary>A checkpoint pass ended: <paramref name="intact"/> when no chain failed to continue its checkpoint.</summary>
    public static void PassCompleted(bool intact)
    {
        _ok = intact ? 1 : 0;
        if (intact)
        {
            // A monotonic timestamp: an age is a duration on this node, whatever its wall clock does.
            Interlocked.Exchange(ref _lastGoodPass, Stopwatch.GetTimestamp());
        }
    }

    /// <summary>A verification found a broken chain: the gauge says so until a pass finds every chain intact.</summary>
    public static void Broken() => _ok = 0;

    /// <summary>Registers the gauges (the static constructor runs once).</summary>
    public static void Register() => _ = _ok;
}
