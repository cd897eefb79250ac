using System.Text.Json;
using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;

namespace Dms.Modules.Billing.Plans;

/// <summary><c>features</c>: switches by name (<see cref="PlanFeatures"/>); a name left out is on.</summary>
internal sealed record NewPlan(string? Name, int? Seats, long? StorageBytes, long? MaxFileBytes, Dictionary<string, bool>? Features, int? TrialDays);

internal sealed record PlanResponse(Guid Id, string Name, int? Seats, long? StorageBytes, long? MaxFileBytes, IReadOnlyDictionary<string, bool> Features,
    int TrialDays, DateTime CreatedAt);

internal sealed record AssignPlan(Guid? PlanId);

internal sealed record SubscriptionResponse(Guid PlanId, string PlanName, string Status, DateTime StatusChangedAt, DateTime? TrialEndsAt,
    DateTime? PastDueSince, DateTime? CanceledAt, DateTime? DeletionScheduledAt, DateTime? CurrentPeriodEnd);

/// <summary>The platform operator's plans: created, listed, and given to tenants (<c>X-Platform-Key</c>; no tenant sign-in).</summary>
internal sealed class PlanCatalogue(Db db, TimeProvider clock, Subscriptions.SubscriptionCache cache)
{
    public async Task<PlanResponse> CreateAsync(NewPlan body, CancellationToken ct)
    {
        var name = body.Name?.Trim();
        new Validator()
            .Require(!string.IsNullOrEmpty(name) && name.Length <= 100 && !name.Any(char.IsControl), "name", "name is required (1-100 characters).")
            .Require(body.Seats is null or >= 1, "seats", "seats is at least 1 (leave it out for no limit).")
            .Require(body.StorageBytes is null or >= 0, "storageBytes", "storageBytes is at least 0 (leave it out for no limit).")
            .Require(body.MaxFileBytes is null or >= 1, "maxFileBytes", "maxFileBytes is at least 1 (leave it out for no limit).")
            .Require(body.TrialDays is null or (>= 0 and <= 365), "trialDays", "trialDays is 0-365 (default 14).")
            .Require(body.Features is null || body.Features.Keys.All(PlanFeatures.All.Contains), "features",
                $"features may switch only {string.Join(", ", PlanFeatures.All)}.")
            .ThrowIfInvalid();
        var id = Guid.CreateVersion7();
        var features = body.Features ?? [];
        var created = await db.WithoutTenantAsync(c => c.QuerySingleOrDefaultAsync<PlanRow>(new CommandDefinition($"""
            INSERT INTO plans (id, name, seats, storage_bytes, max_file_bytes, features, trial_days)
            VALUES (@id, @name, @seats, @storage, @maxFile, @features::jsonb, @trialDays)
            ON CONFLICT (name) DO NOTHING
            RETURNING {PlanRow.Columns}
            """, new { id, name, seats = body.Seats, storage = body.StorageBytes, maxFile = body.MaxFileBytes, features = JsonSerializer.Serialize(features), trialDays = body.TrialDays ?? 14 },
            cancellationToken: ct)), ct) ?? throw ApiProblem.Conflict("plan.name_taken", $"A plan named '{name}' already exists.");
        return created.ToResponse();
    }

    public async Task<IReadOnlyList<PlanResponse>> ListAsync(CancellationToken ct) =>
        (await db.WithoutTenantAsync(c => c.QueryAsync<PlanRow>(new CommandDefinition($"SELECT {PlanRow.Columns} FROM plans ORDER BY name", cancellationToken: ct)), ct))
        .Select(p => p.ToResponse()).ToList();

    /// <summary>
    /// Gives the tenant a plan. A tenant without a subscription starts one: Trialing for the plan's trial days (Active when
    /// it has none). A tenant with one keeps its state and changes plan. Audited as <c>tenant.plan_changed</c>.
    /// </summary>
    public async Task<SubscriptionResponse> AssignAsync(string slug, AssignPlan body, CancellationToken ct)
    {
        if (body.PlanId is not { } planId)
        {
            throw ApiProblem.Validation("planId", "planId is required.");
        }
        var tenant = await TenantDirectory.IdBySlugAsync(db, slug, ct) ?? throw ApiProblem.NotFound("tenant");
        var now = clock.GetUtcNow().UtcDateTime;
        var subscription = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            var plan = await c.QuerySingleOrDefaultAsync<PlanRow>(new CommandDefinition($"SELECT {PlanRow.Columns} FROM plans WHERE id = @planId",
                new { planId }, tx, cancellationToken: ct)) ?? throw ApiProblem.Validation("planId", "No plan has this id.");
            var before = await c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT plan_id FROM tenant_subscriptions WHERE tenant_id = @tenant FOR UPDATE", new { tenant }, tx, cancellationToken: ct));
            var status = plan.TrialDays > 0 ? SubscriptionStatus.Trialing : SubscriptionStatus.Active;
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO tenant_subscriptions (tenant_id, plan_id, status, status_changed_at, trial_ends_at)
                VALUES (@tenant, @planId, @status, @now, CASE WHEN @trialDays > 0 THEN @now + make_interval(days => @trialDays) END)
                ON CONFLICT (tenant_id) DO UPDATE SET plan_id = excluded.plan_id, updated_at = @now
                """, new { tenant, planId, status = status.ToString(), now, trialDays = plan.TrialDays }, tx, cancellationToken: ct));
            await AuditTrail.RecordDetachedAsync(c, tx, new AuditActor("system", null, "platform"), "tenant.plan_changed", "tenant", tenant,
                new { before = before is null ? null : new { planId = before }, after = new { planId, plan.Name } }, ct);
            await Subscriptions.SubscriptionCache.ChangedAsync(c, tx, tenant, ct);
            return await SubscriptionAsync(c, tx, tenant, ct) ?? throw new InvalidOperationException("The subscription was just written.");
        }, ct);
        cache.Forget(tenant);
        return subscription;
    }

    public static Task<SubscriptionResponse?> SubscriptionAsync(Npgsql.NpgsqlConnection c, Npgsql.NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<SubscriptionResponse>(new CommandDefinition("""
            SELECT s.plan_id, p.name AS plan_name, s.status, s.status_changed_at, s.trial_ends_at, s.past_due_since, s.canceled_at,
                   s.deletion_scheduled_at, s.current_period_end
            FROM tenant_subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = @tenant
            """, new { tenant }, tx, cancellationToken: ct));

    private sealed record PlanRow(Guid Id, string Name, int? Seats, long? StorageBytes, long? MaxFileBytes, string Features, int TrialDays, DateTime CreatedAt)
    {
        public const string Columns = "id, name, seats, storage_bytes, max_file_bytes, features::text AS features, trial_days, created_at";

        public PlanResponse ToResponse() => new(Id, Name, Seats, StorageBytes, MaxFileBytes,
            JsonSerializer.Deserialize<Dictionary<string, bool>>(Features) ?? [], TrialDays, CreatedAt);
    }
}
