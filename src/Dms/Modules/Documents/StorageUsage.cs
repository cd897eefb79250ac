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
/// The storage quota (ADR 0032): the tenant's counter row in <c>storage_usage</c>, which triggers keep equal to the bytes
/// of its unpurged versions (used) and of its upload sessions' reservations (reserved). An upload reserves before it
/// stores (<see cref="ReserveAsync"/>, then inserts its session with <c>reserved_bytes</c> in the same transaction); the
/// version's insert settles it, a session that ends otherwise releases it. Thumbnails, previews and extracted text are
/// not counted. Runs in the caller's transaction (Billing's usage report calls <see cref="OfTenantAsync"/>).
/// </summary>
internal static class StorageUsage
{
    public static Task<StorageUse> OfTenantAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.QuerySingleAsync<StorageUse>(new CommandDefinition("""
            SELECT coalesce(max(used_bytes), 0) AS used_bytes, coalesce(max(reserved_bytes), 0) AS reserved_bytes
            FROM storage_usage WHERE tenant_id = @tenant
            """, new { tenant }, tx, cancellationToken: ct));

    /// <summary>The counters and the plan's limit, for the upload area's "space left".</summary>
    public static async Task<StorageQuota> QuotaAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var plan = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        var use = await OfTenantAsync(c, tx, tenant, ct);
        return new StorageQuota(use.UsedBytes, use.ReservedBytes, plan.StorageBytes);
    }

    /// <summary>
    /// Checks that <paramref name="bytes"/> more fit the plan, holding the tenant's counter row locked until the caller's
    /// transaction ends: the caller inserts the session that reserves them in that same transaction, so concurrent uploads
    /// check one after another against what the others reserved and never together exceed the quota. Throws 413
    /// <c>plan.storage_exhausted</c> otherwise. Without a storage limit nothing is locked (the triggers still count).
    /// </summary>
    public static async Task ReserveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, long bytes, CancellationToken ct)
    {
        var plan = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        if (plan.StorageBytes is not { } limit)
        {
            return;
        }
        await c.ExecuteAsync(new CommandDefinition("INSERT INTO storage_usage (tenant_id) VALUES (@tenant) ON CONFLICT (tenant_id) DO NOTHING",
            new { tenant }, tx, cancellationToken: ct));
        var use = await c.QuerySingleAsync<StorageUse>(new CommandDefinition(
            "SELECT used_bytes, reserved_bytes FROM storage_usage WHERE tenant_id = @tenant FOR UPDATE",
            new { tenant }, tx, cancellationToken: ct));
        var quota = new StorageQuota(use.UsedBytes, use.ReservedBytes, limit);
        if (bytes > quota.LeftBytes!.Value)
        {
            throw Exhausted(bytes, quota);
        }
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
