using System.Globalization;
using Dapper;
using Dms.Modules.Billing;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Modules.Documents;

/// <param name="UsedBytes">The bytes of the tenant's stored versions (trash included, until purged).</param>
/// <param name="ReservedBytes">The bytes uploads in progress (and replace requests awaiting a decision) have reserved.</param>
internal sealed record StorageUse(long UsedBytes, long ReservedBytes);

/// <summary>The tenant's storage against its plan: <paramref name="LimitBytes"/> null when the plan does not limit it.</summary>
internal sealed record StorageQuota(long UsedBytes, long ReservedBytes, long? LimitBytes)
{
    /// <summary>What a new upload may still take; null without a limit.</summary>
    public long? LeftBytes => LimitBytes is { } limit ? Math.Max(0, limit - UsedBytes - ReservedBytes) : null;
}

/// <summary>
/// The storage quota (ADR 0032, ADR 0039): the tenant's counter, which triggers keep equal to the bytes of its unpurged
/// versions (used) and of its upload sessions' reservations (reserved). The counter is the base row in
/// <c>storage_usage</c> plus the tenant's rows in <c>storage_usage_deltas</c>: the triggers append deltas, so an upload's
/// last transaction locks no row of the counter; <see cref="FoldAsync"/> moves the deltas into the base row. An upload
/// reserves before it stores (<see cref="ReserveAsync"/>, then inserts its session with <c>reserved_bytes</c> in the same
/// transaction); the version's insert settles it, a session that ends otherwise releases it. Thumbnails, previews and
/// extracted text are not counted. Runs in the caller's transaction (Billing's usage report calls <see cref="OfTenantAsync"/>).
/// </summary>
internal static class StorageUsage
{
    /// <summary>
    /// A tenant's deltas are folded into its base row once this many have piled up (by a reservation, which holds or
    /// briefly takes the base row anyway, or by the reconciler). Below it, reading the counter sums at most this many
    /// small rows, and the reconciler leaves a quiet tenant's row alone.
    /// </summary>
    internal const int FoldAt = 256;

    private sealed record Sums(long UsedBytes, long ReservedBytes, long Deltas);

    /// <summary>
    /// Base row plus deltas, in one statement (one snapshot): a fold commits its DELETE and its UPDATE together, so the
    /// sum is the same before and after it.
    /// </summary>
    public static async Task<StorageUse> OfTenantAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var sums = await SumsAsync(c, tx, tenant, ct);
        return new StorageUse(sums.UsedBytes, sums.ReservedBytes);
    }

    /// <summary>Read on every upload and quota check: planned as the runtime role in QueryPlanTests.</summary>
    internal const string SumsSql = """
        SELECT coalesce((SELECT used_bytes FROM storage_usage WHERE tenant_id = @tenant), 0) + d.used AS used_bytes,
               coalesce((SELECT reserved_bytes FROM storage_usage WHERE tenant_id = @tenant), 0) + d.reserved AS reserved_bytes,
               d.deltas
        FROM (SELECT coalesce(sum(used_delta), 0)::bigint AS used, coalesce(sum(reserved_delta), 0)::bigint AS reserved, count(*) AS deltas
              FROM storage_usage_deltas WHERE tenant_id = @tenant) d
        """;

    private static async Task<Sums> SumsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var sums = await c.QuerySingleAsync<Sums>(new CommandDefinition(SumsSql, new { tenant }, tx, cancellationToken: ct));
        // The base row's CHECKs no longer see every change as it happens; a negative sum is the same counting bug.
        if (sums.UsedBytes < 0 || sums.ReservedBytes < 0)
        {
            throw new InvalidOperationException(
                $"Storage counter of tenant {tenant} is negative (used {sums.UsedBytes}, reserved {sums.ReservedBytes}): a path changed the counted rows without its trigger.");
        }
        return sums;
    }

    /// <summary>The counters and the plan's limit, for the upload area's "space left".</summary>
    public static async Task<StorageQuota> QuotaAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var plan = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        var use = await OfTenantAsync(c, tx, tenant, ct);
        return new StorageQuota(use.UsedBytes, use.ReservedBytes, plan.StorageBytes);
    }

    /// <summary>
    /// Checks that <paramref name="bytes"/> more fit the plan, holding the tenant's base row locked until the caller's
    /// transaction ends: the caller inserts the session that reserves them in that same transaction, so concurrent uploads
    /// check one after another against what the others reserved and never together exceed the quota. Only reservations
    /// make used + reserved grow and they all pass through this lock; the sum is read by a statement after the lock is
    /// granted, so it sees every reservation before this one (ADR 0039). Throws 413 <c>plan.storage_exhausted</c>
    /// otherwise. Without a storage limit nothing is locked for the check (the triggers still count); either way a
    /// tenant's deltas are folded here once there are <see cref="FoldAt"/> of them.
    /// </summary>
    public static async Task ReserveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, long bytes, CancellationToken ct)
    {
        var plan = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        if (plan.StorageBytes is not { } limit)
        {
            await FoldIfManyAsync(c, tx, tenant, ct);
            return;
        }
        await c.ExecuteAsync(new CommandDefinition("INSERT INTO storage_usage (tenant_id) VALUES (@tenant) ON CONFLICT (tenant_id) DO NOTHING",
            new { tenant }, tx, cancellationToken: ct));
        await c.ExecuteAsync(new CommandDefinition("SELECT 1 FROM storage_usage WHERE tenant_id = @tenant FOR UPDATE",
            new { tenant }, tx, cancellationToken: ct));
        // A separate statement: its snapshot is taken after the lock was granted (read committed), so the deltas of the
        // reservation that held the lock before are in it. In the locking statement they might not be.
        var sums = await SumsAsync(c, tx, tenant, ct);
        var quota = new StorageQuota(sums.UsedBytes, sums.ReservedBytes, limit);
        if (bytes > quota.LeftBytes!.Value)
        {
            throw Exhausted(bytes, quota);
        }
        if (sums.Deltas >= FoldAt)
        {
            await FoldAsync(c, tx, tenant, ct);
        }
    }

    /// <summary>
    /// Moves the tenant's deltas into its base row (<c>storage_usage_fold</c>, migration 0032): holds the base row until
    /// the caller's transaction ends, so callers keep that transaction short. Returns how many deltas it moved.
    /// </summary>
    public static Task<long> FoldAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.ExecuteScalarAsync<long>(new CommandDefinition("SELECT storage_usage_fold(@tenant)", new { tenant }, tx, cancellationToken: ct));

    /// <summary>
    /// Folds when <see cref="FoldAt"/> deltas piled up and nobody holds the base row: a fold already under way (or a
    /// reservation, which folds as well) is not waited for; the next caller folds what is left.
    /// </summary>
    public static async Task<long> FoldIfManyAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var many = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT count(*) >= @foldAt FROM (SELECT 1 FROM storage_usage_deltas WHERE tenant_id = @tenant LIMIT @foldAt) d",
            new { tenant, foldAt = FoldAt }, tx, cancellationToken: ct));
        if (!many)
        {
            return 0;
        }
        var free = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT count(*) > 0 FROM (SELECT 1 FROM storage_usage WHERE tenant_id = @tenant FOR UPDATE SKIP LOCKED) r",
            new { tenant }, tx, cancellationToken: ct));
        return free ? await FoldAsync(c, tx, tenant, ct) : 0;
    }

    /// <summary>
    /// The staged bytes of a replace request that will never be carried out are no longer held: the session that brought
    /// them gives its reservation back (in the caller's transaction, the one that ends the request).
    /// </summary>
    public static Task ReleaseStagedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid versionId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(
            "UPDATE upload_sessions SET reserved_bytes = 0 WHERE tenant_id = @tenant AND version_id = @versionId AND reserved_bytes > 0",
            new { tenant, versionId }, tx, cancellationToken: ct));

    /// <summary>The largest file the tenant may upload: the installation's limit or its plan's, whichever is lower.</summary>
    public static async Task<FileLimit> MaxFileAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, long configured, CancellationToken ct)
    {
        var plan = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        return plan.MaxFileBytes is { } planned && planned < configured ? new FileLimit(planned, ByPlan: true) : new FileLimit(configured, ByPlan: false);
    }

    private static ApiProblem Exhausted(long bytes, StorageQuota quota) =>
        new(StatusCodes.Status413PayloadTooLarge, "plan.storage_exhausted", "Not enough storage left for this file.",
            $"{Human(quota.LeftBytes ?? 0)} left of {Human(quota.LimitBytes ?? 0)}; this upload needs up to {Human(bytes)}. " +
            "Deleted documents count until they are purged. Free space or ask for a larger plan.");

    /// <summary>Sizes as people read them (the same steps as the UI's): 12.3 MB, 1 GB.</summary>
    public static string Human(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.##} GB"),
    };
}

/// <summary>The largest file a tenant may upload, and whether its plan (not the installation) sets it.</summary>
internal sealed record FileLimit(long Bytes, bool ByPlan)
{
    public ApiProblem TooLarge() =>
        new(StatusCodes.Status413PayloadTooLarge, "document.too_large",
            ByPlan
                ? $"The file is larger than your plan's limit of {StorageUsage.Human(Bytes)} ({Bytes} bytes)."
                : $"The file is larger than the limit of {Bytes} bytes.");
}
