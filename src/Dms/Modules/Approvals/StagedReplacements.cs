using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Platform.Database;
using Npgsql;

namespace Dms.Modules.Approvals;

/// <summary>
/// Approvals' facade for storage housekeeping (Documents' reconciler): the blobs that open replace requests hold as
/// their staged content. Runs inside the caller's transaction.
/// </summary>
internal static class StagedReplacements
{
    /// <summary>Which of <paramref name="keys"/> are the staged content of a Pending or Approved request.</summary>
    public static async Task<IReadOnlySet<string>> HeldAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, IReadOnlyCollection<string> keys,
        CancellationToken ct) =>
        keys.Count == 0
            ? new HashSet<string>(StringComparer.Ordinal)
            : (await c.QueryAsync<string>(new CommandDefinition($"""
                SELECT DISTINCT r.staged_blob_key FROM approval_requests r
                WHERE r.tenant_id = @tenant AND r.staged_blob_key = ANY(@keys) AND r.status IN ({ApprovalStates.Staging.Sql()})
                """, new { tenant, keys = keys.ToArray() }, tx, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
}
