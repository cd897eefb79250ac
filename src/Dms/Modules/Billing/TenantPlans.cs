using System.Text.Json;
using Dapper;
using Npgsql;

namespace Dms.Modules.Billing;

/// <summary>Feature switches a plan can turn off (a name missing from a plan's <c>features</c> is on).</summary>
internal static class PlanFeatures
{
    public const string ShareLinks = "shareLinks";
    public const string Webhooks = "webhooks";

    public static readonly IReadOnlyList<string> All = [ShareLinks, Webhooks];
}

/// <summary>What a tenant's plan allows. Null limits mean "no limit".</summary>
internal sealed record PlanLimits(Guid? PlanId, string? PlanName, int? Seats, long? StorageBytes, long? MaxFileBytes, IReadOnlyDictionary<string, bool> Features)
{
    /// <summary>A tenant without a plan: no limits, every feature on.</summary>
    public static readonly PlanLimits Unlimited = new(null, null, null, null, null, new Dictionary<string, bool>());

    public bool Allows(string feature) => !Features.TryGetValue(feature, out var on) || on;
}

/// <summary>
/// Billing's facade for the modules that enforce a plan (Access: seats; Documents: storage, file size, share links;
/// Webhooks). Runs inside the caller's transaction, so a limit is read in the same snapshot as what it limits.
/// </summary>
internal static class TenantPlans
{
    public static async Task<PlanLimits> LimitsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var row = await c.QuerySingleOrDefaultAsync<PlanRow>(new CommandDefinition("""
            SELECT p.id, p.name, p.seats, p.storage_bytes, p.max_file_bytes, p.features::text AS features
            FROM tenant_subscriptions s JOIN plans p ON p.id = s.plan_id
            WHERE s.tenant_id = @tenant
            """, new { tenant }, tx, cancellationToken: ct));
        return row is null
            ? PlanLimits.Unlimited
            : new PlanLimits(row.Id, row.Name, row.Seats, row.StorageBytes, row.MaxFileBytes,
                JsonSerializer.Deserialize<Dictionary<string, bool>>(row.Features) ?? []);
    }

    /// <summary>402 <c>plan.feature_unavailable</c>: the tenant's plan switches <paramref name="feature"/> off.</summary>
    public static Platform.Http.ApiProblem FeatureUnavailable(string feature) =>
        new(StatusCodes.Status402PaymentRequired, "plan.feature_unavailable", $"{feature} are not part of this organisation's plan.",
            "Ask the organisation's administrator about a plan that includes them.");

    private sealed record PlanRow(Guid Id, string Name, int? Seats, long? StorageBytes, long? MaxFileBytes, string Features);
}
