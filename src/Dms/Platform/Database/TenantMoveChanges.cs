using Dapper;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// The change log of one tenant move (migration 0033, ADR 0041): statement triggers on every table the mover copies
/// append the primary keys of the tenant's rows that are inserted, updated or deleted, from just before the bulk copy's
/// snapshot until the move ends. The freeze then copies only those rows (and deletes the logged keys the source no
/// longer has), so it lasts as long as the changes take, not as long as the tenant's tables.
/// </summary>
internal static class TenantMoveChanges
{
    /// <summary>How long one attempt waits for a table's lock (writers of every tenant queue behind a waiting DDL).</summary>
    private const string LockTimeout = "500ms";

    private const int Attempts = 40;

    /// <summary>The triggers' names: per tenant, so moves of two tenants never meet.</summary>
    private static string Prefix(Guid tenant) => $"dms_move_{tenant:N}";

    /// <summary>
    /// Empties the tenant's log and puts the triggers on every table (one table per transaction, so the mover never holds
    /// two tables' locks and cannot deadlock with a writer). CREATE TRIGGER takes a lock that conflicts with writers, so
    /// it waits for every transaction that wrote the table before; every change it does not see is therefore committed
    /// before the snapshot the copy takes afterwards. A lock not granted within <see cref="LockTimeout"/> is retried, so
    /// other tenants' writers never queue behind the mover for longer.
    /// </summary>
    public static async Task InstallAsync(NpgsqlConnection source, TenantSchema schema, Guid tenant, CancellationToken ct)
    {
        await RemoveAsync(source, tenant, throwOnTimeout: true, ct);
        foreach (var table in schema.Tables)
        {
            var args = string.Join(", ", new[] { tenant.ToString(), table.TenantColumn }.Concat(table.Key).Select(Literal));
            var name = Prefix(tenant);
            await WithTableLockAsync(source, $"""
                CREATE TRIGGER {name}_i AFTER INSERT ON {table.Quoted} REFERENCING NEW TABLE AS dms_new
                  FOR EACH STATEMENT EXECUTE FUNCTION tenant_move_log({args});
                CREATE TRIGGER {name}_u AFTER UPDATE ON {table.Quoted} REFERENCING OLD TABLE AS dms_old NEW TABLE AS dms_new
                  FOR EACH STATEMENT EXECUTE FUNCTION tenant_move_log({args});
                CREATE TRIGGER {name}_d AFTER DELETE ON {table.Quoted} REFERENCING OLD TABLE AS dms_old
                  FOR EACH STATEMENT EXECUTE FUNCTION tenant_move_log({args});
                """, throwOnTimeout: true, ct);
        }
    }

    /// <summary>
    /// Removes the tenant's triggers (those that exist: DROP TRIGGER locks the table against readers too) and its log.
    /// Best effort after the switch: a trigger left on a moved tenant never fires for it again (its writes go to its new
    /// database), and the next move or unfreeze of the tenant removes it.
    /// </summary>
    public static async Task<bool> RemoveAsync(NpgsqlConnection source, Guid tenant, bool throwOnTimeout, CancellationToken ct)
    {
        var left = (await source.QueryAsync<(string Table, string Trigger)>(new CommandDefinition("""
            SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE NOT t.tgisinternal AND t.tgname LIKE @prefix AND c.relnamespace = 'public'::regnamespace
            """, new { prefix = Prefix(tenant) + "\\_%" }, cancellationToken: ct))).ToList();
        var removed = true;
        foreach (var group in left.GroupBy(l => l.Table))
        {
            var sql = string.Concat(group.Select(g => $"DROP TRIGGER {TenantMover.Quote(g.Trigger)} ON {TenantMover.Quote(group.Key)};"));
            removed &= await WithTableLockAsync(source, sql, throwOnTimeout, ct);
        }
        await source.ExecuteAsync(new CommandDefinition("DELETE FROM tenant_move_changes WHERE tenant = @tenant", new { tenant }, cancellationToken: ct));
        return removed;
    }

    private static async Task<bool> WithTableLockAsync(NpgsqlConnection conn, string sql, bool throwOnTimeout, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            try
            {
                await conn.ExecuteAsync(new CommandDefinition($"SET LOCAL lock_timeout = '{LockTimeout}'; {sql}", transaction: tx, cancellationToken: ct));
                await tx.CommitAsync(ct);
                return true;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable && attempt < Attempts)
            {
                await tx.RollbackAsync(ct);
                await Task.Delay(TimeSpan.FromMilliseconds(100 * Math.Min(attempt, 10)), ct);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable && !throwOnTimeout)
            {
                await tx.RollbackAsync(ct);
                return false;
            }
        }
    }

    /// <summary>The tables with logged changes, and how many log rows each has (read under the freeze).</summary>
    public static async Task<IReadOnlyDictionary<string, long>> ChangedTablesAsync(NpgsqlConnection source, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        (await source.QueryAsync<(string Table, long Rows)>(new CommandDefinition(
            "SELECT table_name, count(*) FROM tenant_move_changes WHERE tenant = @tenant GROUP BY table_name", new { tenant }, tx, cancellationToken: ct)))
        .ToDictionary(r => r.Table, r => r.Rows, StringComparer.Ordinal);

    /// <summary>
    /// The SQL condition "this row's key is logged" for <paramref name="table"/> (alias t), against a log relation
    /// (<c>tenant_move_changes</c> on the source, the session's copy <c>dms_move_changed</c> on the target).
    /// </summary>
    public static string LoggedKey(TenantTable table, string log, string? tenantCondition)
    {
        var keys = string.Join(", ", table.Key.Select(k => $"t.{TenantMover.Quote(k)}"));
        var fromLog = string.Join(", ", table.Key.Select(k => $"r.{TenantMover.Quote(k)}"));
        var where = $"c.table_name = {Literal(table.Name)}" + (tenantCondition is null ? "" : $" AND {tenantCondition}");
        return $"({keys}) IN (SELECT {fromLog} FROM {log} c CROSS JOIN LATERAL jsonb_populate_record(NULL::public.{table.Quoted}, c.key) r WHERE {where})";
    }

    public static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
