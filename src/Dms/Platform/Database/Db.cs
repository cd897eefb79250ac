using Dapper;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Opens connections as the runtime role. Every unit of tenant work runs in a transaction whose
/// <c>app.tenant_id</c> is set (transaction-local, so a pooled connection never carries it over);
/// row-level security hides every other tenant's rows. This is the only place that sets it.
/// </summary>
internal sealed class Db(NpgsqlDataSource dataSource, DirectDataSource direct, TenantDatabases tenants, ReadRouting reads)
{
    /// <summary>
    /// A write (or read-write) unit of work for <paramref name="tenantId"/> in the database that holds the tenant. In the same
    /// round trip as the tenant setting it takes the tenant's move lock in shared mode and reads the tenant's move state
    /// (ADR 0036): Frozen refuses the write with 503 <c>tenant.moving</c> before anything ran; Moved (this node's directory
    /// cache was behind) drops the cached placement and runs the work on the tenant's new database instead.
    /// </summary>
    public async Task<T> InTenantAsync<T>(Guid tenantId, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var source = await tenants.SourceForAsync(tenantId, ct);
            await using var conn = await source.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            var state = await EnterTenantForWriteAsync(conn, tx, tenantId, ct);
            if (state == TenantPlacementState.Frozen)
            {
                throw TenantMoving.Problem();
            }
            if (state == TenantPlacementState.Moved)
            {
                // Only the main database has directory rows, so the second attempt runs where the tenant is now.
                tenants.Forget(tenantId);
                if (attempt < 3)
                {
                    continue;
                }
                throw new InvalidOperationException($"Tenant {tenantId} is marked moved but its database could not be found.");
            }
            var result = await work(conn, tx);
            await tx.CommitAsync(ct);
            return result;
        }
    }

    /// <summary>
    /// The tenant setting, then the tenant's move lock (shared, tried: writers never wait for each other; the mover's exclusive
    /// lock waits for the writers that started before the freeze, and a writer that finds it taken is refused), then the
    /// move state. One round
    /// trip: Npgsql sends BEGIN and the three statements together. The state is read by a statement of its own so that its
    /// snapshot is taken after the lock is granted: a writer that queued behind the mover sees the state the mover left.
    /// </summary>
    internal static async Task<TenantPlacementState> EnterTenantForWriteAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, CancellationToken ct)
    {
        var p = new DynamicParameters();
        p.Add(TenantParameter, tenantId.ToString());
        p.Add("dms_move_class", TenantMoving.LockClass);
        p.Add("dms_move_key", TenantMoving.LockKey(tenantId));
        p.Add("dms_tenant", tenantId);
        await using var grid = await c.QueryMultipleAsync(new CommandDefinition($"""
            {TenantSetting};
            SELECT pg_try_advisory_xact_lock_shared(@dms_move_class, @dms_move_key);
            SELECT state FROM tenant_placements WHERE tenant = @dms_tenant
            """, p, tx, cancellationToken: ct));
        await grid.ReadSingleAsync<string>();
        // Never waits: the mover holds the lock exclusively only while the tenant is frozen (or queues for it right after
        // freezing), so a lock not granted is a freeze, refused at once rather than a request hanging for the freeze.
        var locked = await grid.ReadSingleAsync<bool>();
        var state = await grid.ReadSingleOrDefaultAsync<string>();
        if (!locked)
        {
            return TenantPlacementState.Frozen;
        }
        return state is null ? TenantPlacementState.Home : Enum.Parse<TenantPlacementState>(state);
    }

    public Task InTenantAsync(Guid tenantId, Func<NpgsqlConnection, NpgsqlTransaction, Task> work, CancellationToken ct) =>
        InTenantAsync(tenantId, async (c, t) => { await work(c, t); return true; }, ct);

    /// <summary>
    /// A read-only unit of tenant work that needs a transaction of its own (several queries that depend on each other, such
    /// as a document list and its comment counts), routed like <see cref="ReadInTenantAsync{T}"/>: on the read replica when
    /// <see cref="ReadRouting"/> says so (ADR 0035). The work must not write: a replica refuses, and the read would run again
    /// on the primary.
    /// </summary>
    public async Task<T> ReadTransactionInTenantAsync<T>(Guid tenantId, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        var primary = await tenants.SourceForAsync(tenantId, ct);
        return await reads.ReadAsync(tenantId, primary, async source =>
        {
            await using var conn = await source.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await EnterTenantAsync(conn, tx, tenantId, ct);
            var result = await work(conn, tx);
            await tx.CommitAsync(ct);
            return result;
        }, ct);
    }

    /// <summary>
    /// A read in one round trip: the tenant setting and <paramref name="sql"/> (one or more statements) go to the server as
    /// one batch, which PostgreSQL runs as one implicit transaction, so the transaction-local setting covers every
    /// statement and ends with them, exactly as in <see cref="InTenantAsync{T}"/> (issue 12: BEGIN, set_config, query and
    /// COMMIT were four waits for the network). <paramref name="read"/> reads the statements' results in order.
    /// </summary>
    public async Task<T> ReadInTenantAsync<T>(Guid tenantId, string sql, object? parameters, Func<SqlMapper.GridReader, Task<T>> read, CancellationToken ct)
    {
        var primary = await tenants.SourceForAsync(tenantId, ct);
        return await reads.ReadAsync(tenantId, primary, source => ReadOnAsync(source, tenantId, sql, parameters, read, ct), ct);
    }

    private static async Task<T> ReadOnAsync<T>(NpgsqlDataSource source, Guid tenantId, string sql, object? parameters, Func<SqlMapper.GridReader, Task<T>> read, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct);
        var p = new DynamicParameters(parameters);
        p.Add(TenantParameter, tenantId.ToString());
        await using var grid = await conn.QueryMultipleAsync(new CommandDefinition($"{TenantSetting};\n{sql}", p, cancellationToken: ct));
        await grid.ReadSingleAsync<string>();
        return await read(grid);
    }

    private const string TenantParameter = "dms_tenant_setting";
    private const string TenantSetting = "SELECT set_config('app.tenant_id', @" + TenantParameter + ", true)";

    /// <summary>
    /// Makes <paramref name="tx"/> work as <paramref name="tenantId"/> (transaction-local). For the few callers that
    /// hold their own connection: the owner connection at bootstrap, a long export, the outbox dispatcher.
    /// </summary>
    public static Task EnterTenantAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(TenantSetting, new DynamicParameters(new Dictionary<string, object> { [TenantParameter] = tenantId.ToString() }), tx, cancellationToken: ct));

    /// <summary>Work on tables without tenant rows (the tenant directory).</summary>
    public async Task<T> WithoutTenantAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await work(conn);
    }

    /// <summary>
    /// A background pass over every tenant, on one node at a time: under the session advisory lock
    /// <paramref name="lockKey"/>, runs <paramref name="perTenant"/> for each tenant in id order. Returns the
    /// number of tenants visited, or null when another node holds the lock (the pass is skipped, not queued).
    /// The tenant directory (<c>tenants</c>, owned by Access) is read here as a documented read model.
    /// The lock is session state, so its connection is a direct one (<c>ConnectionStrings__DmsDirect</c>, ADR 0034):
    /// through a transaction-pooling PgBouncer the lock would be taken on one server session and the unlock sent to
    /// another, and a second node could be handed the session that holds it (advisory locks are re-entrant).
    /// </summary>
    public async Task<int?> ForEachTenantUnderLockAsync(long lockKey, Func<Guid, CancellationToken, Task> perTenant, CancellationToken ct)
    {
        await using var lockConnection = await direct.Source.OpenConnectionAsync(ct);
        if (!await lockConnection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@key)", new { key = lockKey }, cancellationToken: ct)))
        {
            return null;
        }
        try
        {
            var tenants = (await lockConnection.QueryAsync<Guid>(new CommandDefinition("SELECT id FROM tenants ORDER BY id", cancellationToken: ct))).ToList();
            foreach (var tenant in tenants)
            {
                ct.ThrowIfCancellationRequested();
                await perTenant(tenant, ct);
            }
            return tenants.Count;
        }
        finally
        {
            await lockConnection.ExecuteAsync("SELECT pg_advisory_unlock(@key)", new { key = lockKey });
        }
    }
}

/// <summary>
/// Connections that may hold session state (a session advisory lock, LISTEN): straight to PostgreSQL, never through a
/// transaction-pooling PgBouncer. <c>ConnectionStrings__DmsDirect</c>, or the runtime connection when it is not set.
/// </summary>
internal sealed class DirectDataSource(NpgsqlDataSource source, bool owned) : IAsyncDisposable
{
    public NpgsqlDataSource Source { get; } = source;

    // The shared runtime source is disposed by the container; only a source of its own is disposed here.
    public ValueTask DisposeAsync() => owned ? Source.DisposeAsync() : ValueTask.CompletedTask;
}
