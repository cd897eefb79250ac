using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// A read-only unit of tenant work that needs a connection and transaction of its own (several queries that depend on
/// each other, such as a document list and its comment counts), routed like <see cref="Db.ReadInTenantAsync{T}"/>: on
/// the read replica when <see cref="ReadRouting"/> says so (ADR 0035). The work must not write: a replica refuses, and
/// the read would run again on the primary.
/// </summary>
internal sealed class ReplicaReads(TenantDatabases tenants, ReadRouting reads)
{
    public async Task<T> InTenantAsync<T>(Guid tenantId, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        var primary = await tenants.SourceForAsync(tenantId, ct);
        return await reads.ReadAsync(tenantId, primary, async source =>
        {
            await using var conn = await source.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await Db.EnterTenantAsync(conn, tx, tenantId, ct);
            var result = await work(conn, tx);
            await tx.CommitAsync(ct);
            return result;
        }, ct);
    }
}
