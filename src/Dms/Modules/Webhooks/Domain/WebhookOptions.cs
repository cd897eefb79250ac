using System.Globalization;

namespace Dms.Modules.Webhooks.Domain;

/// <summary><c>Dms__Webhooks__*</c> (docs/configuration.md).</summary>
internal sealed class WebhookOptions
{
    public const string Section = "Dms:Webhooks";

    /// <summary>Targets on private, loopback, link-local, unique-local, multicast or unspecified addresses are refused unless true.</summary>
    public bool AllowPrivateTargets { get; set; }

    /// <summary>How long one delivery attempt may take (connect, send, response headers).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Waits between attempts, comma-separated (each gets ±20% jitter); one attempt more than there are waits. The default
    /// retries for about 27 hours (Standard Webhooks' schedule).
    /// </summary>
    public string RetrySchedule { get; set; } = "00:00:05,00:05:00,00:30:00,02:00:00,05:00:00,10:00:00,10:00:00";

    /// <summary>Failed attempts in a row (of any of its deliveries) that pause an endpoint.</summary>
    public int BreakerThreshold { get; set; } = 10;

    /// <summary>While an endpoint is paused, one delivery is tried this often to see whether it is back.</summary>
    public TimeSpan BreakerProbeInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>After a secret rotation, deliveries are also signed with the old secret for this long.</summary>
    public TimeSpan SecretOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long the delivery log, finished deliveries and their events are kept.</summary>
    public TimeSpan LogRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often the worker looks for due deliveries when it found none.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deliveries sent at once by one node, and at most per endpoint (so one slow receiver cannot take them all).</summary>
    public int MaxInFlight { get; set; } = 32;

    public int MaxInFlightPerEndpoint { get; set; } = 4;

    public TimeSpan[] Delays()
    {
        var delays = RetrySchedule.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => TimeSpan.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        return delays;
    }

    /// <summary>Attempts before a delivery is dead.</summary>
    public int MaxAttempts => Delays().Length + 1;

    /// <summary>The wait after failed attempt <paramref name="attempts"/> (1-based), with ±20% jitter so retries of many deliveries spread out.</summary>
    public TimeSpan RetryDelay(int attempts)
    {
        var delays = Delays();
        var delay = delays[Math.Clamp(attempts - 1, 0, delays.Length - 1)];
        return TimeSpan.FromMilliseconds(delay.TotalMilliseconds * (0.8 + Random.Shared.NextDouble() * 0.4));
    }
}
