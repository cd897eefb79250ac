namespace Dms.Modules.Billing;

/// <summary><c>Dms__Billing__*</c> (docs/configuration.md, docs/billing.md).</summary>
internal sealed class BillingOptions
{
    public const string Section = "Dms:Billing";

    /// <summary>The provider's webhook signing secret; empty: the webhook answers 404 <c>billing.disabled</c>.</summary>
    public string WebhookSecret { get; set; } = "";

    /// <summary>How far a signature's timestamp may be from now (either way) before it is refused as a replay.</summary>
    public TimeSpan SignatureTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a past-due tenant keeps writing before it becomes read-only.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long after cancelation the tenant's data is scheduled for deletion.</summary>
    public TimeSpan DeletionDelay { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a node keeps a tenant's subscription state for the write gate (other nodes see a change this late).</summary>
    public TimeSpan StateCacheDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the worker looks for trials that have ended.</summary>
    public TimeSpan TrialCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The largest webhook body accepted.</summary>
    public int MaxWebhookBytes { get; set; } = 64 * 1024;
}
