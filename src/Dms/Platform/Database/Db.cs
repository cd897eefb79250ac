using Dapper;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Opens connections as the runtime role. Every unit of tenant work runs in a transaction whose
/// <c>app.tenant_id</c> is set (transaction-local, so a pooled connection never carries it over);
/// row-level security hides every other tenant's rows.
/// </summary>
internal sealed class Db(NpgsqlDataSource dataSource)
{
    public async Task<T> InTenantAsync<T>(Guid tenantId, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "SELECT set_config('app.tenant_id', @tenant, true)", new { tenant = tenantId.ToString() }, tx, cancellationToken: ct));
        var result = await work(conn, tx);
        await tx.CommitAsync(ct);
        return result;
    }

    public Task InTenantAsync(Guid tenantId, Func<NpgsqlConnection, NpgsqlTransaction, Task> work, CancellationToken ct) =>
        InTenantAsync(tenantId, async (c, t) => { await work(c, t); return true; }, ct);

    /// <summary>Work on tables without tenant rows (the tenant directory).</summary>
    public async Task<T> WithoutTenantAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await work(conn);
    }
}
