using Dapper;
using Npgsql;

namespace Dms.Modules.Documents;

/// <param name="UsedBytes">The bytes of the tenant's stored versions (trash included, until purged).</param>
/// <param name="ReservedBytes">The bytes uploads in progress have reserved.</param>
internal sealed record StorageUse(long UsedBytes, long ReservedBytes);

/// <summary>Storage for Billing's usage report. Runs in the caller's transaction.</summary>
internal static class StorageUsage
{
    // A first version: a sum. The storage-quota work replaces it with the tenant's counter row.
    public static Task<StorageUse> OfTenantAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.QuerySingleAsync<StorageUse>(new CommandDefinition(
            "SELECT coalesce(sum(size), 0)::bigint AS used_bytes, 0::bigint AS reserved_bytes FROM document_versions WHERE tenant_id = @tenant",
            new { tenant }, tx, cancellationToken: ct));
}
