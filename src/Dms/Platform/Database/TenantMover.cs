using System.Diagnostics;
using System.Globalization;
using System.Text;
using Dapper;
using Dms.Platform.Caching;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>A move that cannot start or did not finish; the message is for the operator (never a credential).</summary>
internal sealed class TenantMoveException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What a finished move did.</summary>
internal sealed record TenantMoveResult(Guid Tenant, string From, string To, long Rows, int Tables, TimeSpan Total, TimeSpan Freeze);

/// <summary>
/// Moves one tenant from the main database to a database of its own while it stays live (issue 18 item 4, ADR 0036):
/// <list type="number">
/// <item>migrates the target and copies the tenant's rows (every table with a <c>tenant_id</c> column, found in the catalog,
/// in foreign-key order, plus the global rows they reference) with binary COPY from one REPEATABLE READ snapshot;</item>
/// <item>freezes the tenant's writes (directory state Frozen, then the tenant's move lock in exclusive mode, which waits for
/// the writes that started before the freeze) and copies what changed since the snapshot (rows whose <c>xmin</c> is not
/// older than the snapshot's, upserted; rows deleted since, found by primary key);</item>
/// <item>verifies row counts and checksums per table and the audit chain on the target, records <c>tenant.moved</c> in the
/// tenant's audit trail (in the target), then switches the directory to Moved and tells every node.</item>
/// </list>
/// Any failure before the switch rolls back: the tenant's rows are deleted from the target and its state goes back to Home.
/// The source rows stay behind after a successful move.
/// </summary>
internal sealed class TenantMover(
    DatabaseConnections connections, TenantDatabases tenants, IAuditLog audit, Testing.FaultInjection faults, TimeProvider clock,
    ILogger<TenantMover> logger)
{
    /// <summary>The advisory lock class that keeps two movers (or a mover and an unfreeze) of one tenant apart.</summary>
    private const int MoverLockClass = 0x0D05_0037;

    /// <summary>
    /// Checks the audit chain of the tenant in the database of the given runtime data source; returns null when it is valid,
    /// else what is wrong. The Audit module's verification (the command line passes it in: Platform sees no module).
    /// </summary>
    public delegate Task<string?> AuditCheck(NpgsqlDataSource target, Guid tenant, CancellationToken ct);

    public async Task<TenantMoveResult> MoveAsync(string slug, string targetConnectionString, string actor, AuditCheck auditCheck,
        Action<string> progress, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var say = progress;
        progress = step => say(string.Create(CultureInfo.InvariantCulture, $"{Stopwatch.GetElapsedTime(started).TotalSeconds:0.0}s {step}"));
        NpgsqlConnectionStringBuilder target;
        try
        {
            target = new NpgsqlConnectionStringBuilder(targetConnectionString);
        }
        catch (ArgumentException ex)
        {
            throw new TenantMoveException($"--to is not a valid connection string: {ex.Message}");
        }
        if (string.IsNullOrWhiteSpace(target.Host) || string.IsNullOrWhiteSpace(target.Database))
        {
            throw new TenantMoveException("--to must name a Host and a Database.");
        }
        var placement = new TenantPlacement(TenantPlacementState.Frozen, target.Host, target.Port, target.Database);
        if (TenantDatabases.SameDatabase(targetConnectionString, connections.Owner))
        {
            throw new TenantMoveException($"--to names the main database ({placement.Address}); a tenant moves to another database.");
        }
        var from = Address(connections.Owner);

        // The mover's own session on the main database: it holds the mover lock for the whole move and, later, the
        // tenant's move lock. Straight to PostgreSQL (the owner's connection), as session locks need.
        // Unpooled, so its session locks end with it even if an unlock is missed.
        await using var session = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connections.Owner) { Pooling = false, ApplicationName = "dms-tenant-move" }.ConnectionString);
        await session.OpenAsync(ct);
        var tenant = await session.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition("SELECT id FROM tenants WHERE slug = @slug", new { slug }, cancellationToken: ct))
            ?? throw new TenantMoveException($"No tenant with slug '{slug}'.");
        if (!await session.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@c, @k)",
            new { c = MoverLockClass, k = TenantMoving.LockKey(tenant) }, cancellationToken: ct)))
        {
            throw new TenantMoveException($"Another move (or unfreeze) of tenant '{slug}' is running.");
        }
        var current = await TenantDatabases.ReadAsync(session, null, tenant, ct);
        switch (current?.State)
        {
            case TenantPlacementState.Moved:
                throw new TenantMoveException($"Tenant '{slug}' has already been moved (to {current.Address}); moving it again is not supported.");
            case TenantPlacementState.Frozen:
                throw new TenantMoveException($"Tenant '{slug}' is frozen by a move that did not finish (to {current.Address}): " +
                    "run `tenant unfreeze --tenant " + slug + "` first (docs/runbooks/tenant-move.md).");
        }

        await using var targetConnection = new NpgsqlConnection(targetConnectionString);
        try
        {
            await targetConnection.OpenAsync(ct);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new TenantMoveException($"The target database {placement.Address} cannot be reached: {DatabaseWait.OneLine(ex)}", ex);
        }
        progress($"migrating the target {placement.Address}");
        try
        {
            await MigrationRunner.MigrateAsync(targetConnectionString, MigrationRunner.EmbeddedMigrations(), null, ct);
        }
        catch (Exception ex) when (ex is NpgsqlException or StartupException)
        {
            throw new TenantMoveException($"The target database {placement.Address} could not be migrated (is --to the schema owner's login?): {DatabaseWait.OneLine(ex)}", ex);
        }

        await using var source = new NpgsqlConnection(connections.Owner);
        await source.OpenAsync(ct);
        var schema = await TenantSchema.ReadAsync(source, ct);
        var frozen = false;
        long freezeStarted = 0;
        try
        {
            // Leftovers of an earlier attempt that died before its rollback.
            await DeleteFromTargetAsync(targetConnection, schema, tenant, ct);

            progress("copying the tenant's rows");
            var snapshotXmin = await CopyAsync(source, targetConnection, schema, tenant, ct);
            faults.TenantMoveStep("copy");

            progress("freezing the tenant's writes");
            await SetStateAsync(session, tenant, TenantPlacementState.Home, placement with { State = TenantPlacementState.Frozen }, actor, ct);
            frozen = true;
            freezeStarted = Stopwatch.GetTimestamp();
            // Waits for every write that took the shared lock before the freeze was visible; later ones see Frozen and stop.
            await session.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@c, @k)::text",
                new { c = TenantMoving.LockClass, k = TenantMoving.LockKey(tenant) }, commandTimeout: 0, cancellationToken: ct));
            // The outbox claim (one statement across tenants, no move lock) may have read Home just before the freeze: its row
            // locks are waited for here, and held until the switch so that such a claim skips the tenant's rows.
            await using var outboxHold = new NpgsqlConnection(connections.Owner);
            await outboxHold.OpenAsync(ct);
            await using var outboxTx = await outboxHold.BeginTransactionAsync(ct);
            await Db.EnterTenantAsync(outboxHold, outboxTx, tenant, ct);
            await outboxHold.ExecuteAsync(new CommandDefinition("SELECT id FROM outbox_messages WHERE tenant_id = @tenant FOR UPDATE",
                new { tenant }, outboxTx, commandTimeout: 0, cancellationToken: ct));

            progress("copying the changes made during the copy");
            await CopyDeltaAsync(source, targetConnection, schema, tenant, snapshotXmin, ct);
            faults.TenantMoveStep("delta");

            progress("verifying the copy");
            var rows = await VerifyAsync(source, targetConnection, schema, tenant, ct);
            var runtimeTarget = tenants.SourceAt(placement with { State = TenantPlacementState.Moved });
            await using (var conn = await runtimeTarget.OpenConnectionAsync(ct))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await Db.EnterTenantAsync(conn, tx, tenant, ct);
                await audit.RecordAsync(conn, tx, "tenant.moved", "tenant", $"{tenant} from {from} to {placement.Address}", ct);
                await tx.CommitAsync(ct);
            }
            if (await auditCheck(runtimeTarget, tenant, ct) is { } problem)
            {
                throw new TenantMoveException($"The audit chain of the copy does not verify ({problem}).");
            }
            faults.TenantMoveStep("verify");

            progress("switching the tenant to its new database");
            await SetStateAsync(session, tenant, TenantPlacementState.Frozen, placement with { State = TenantPlacementState.Moved }, actor, ct);
            var freeze = Stopwatch.GetElapsedTime(freezeStarted);
            await UnlockAsync(session, tenant);
            logger.LogInformation("Tenant {Tenant} moved from {From} to {To}: {Rows} rows, frozen for {Freeze} ms", tenant, from, placement.Address, rows,
                (long)freeze.TotalMilliseconds);
            return new TenantMoveResult(tenant, from, placement.Address, rows, schema.Tables.Count, Stopwatch.GetElapsedTime(started), freeze);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            progress($"failed ({DatabaseWait.OneLine(ex)}); rolling back");
            await RollBackAsync(session, targetConnectionString, schema, tenant, frozen, actor);
            throw ex as TenantMoveException ?? new TenantMoveException($"The move failed and was rolled back: {DatabaseWait.OneLine(ex)}", ex);
        }
    }

    /// <summary>
    /// The runbook's way out of a move that died while frozen: state back to Home (the tenant writes to the main database
    /// again) and every node told. Refused while a mover of the tenant is still running.
    /// </summary>
    public async Task<bool> UnfreezeAsync(string slug, string actor, CancellationToken ct)
    {
        await using var session = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connections.Owner) { Pooling = false, ApplicationName = "dms-tenant-unfreeze" }.ConnectionString);
        await session.OpenAsync(ct);
        var tenant = await session.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition("SELECT id FROM tenants WHERE slug = @slug", new { slug }, cancellationToken: ct))
            ?? throw new TenantMoveException($"No tenant with slug '{slug}'.");
        if (!await session.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@c, @k)",
            new { c = MoverLockClass, k = TenantMoving.LockKey(tenant) }, cancellationToken: ct)))
        {
            throw new TenantMoveException($"A move of tenant '{slug}' is still running: wait for it to finish or roll back.");
        }
        var current = await TenantDatabases.ReadAsync(session, null, tenant, ct);
        if (current is not { State: TenantPlacementState.Frozen })
        {
            return false;
        }
        await SetStateAsync(session, tenant, TenantPlacementState.Frozen, current with { State = TenantPlacementState.Home }, actor, ct);
        return true;
    }

    private async Task RollBackAsync(NpgsqlConnection session, string targetConnectionString, TenantSchema schema, Guid tenant, bool frozen, string actor)
    {
        // Not cancellable: a half-done rollback is worse than a slow one.
        if (frozen)
        {
            try
            {
                var current = await TenantDatabases.ReadAsync(session, null, tenant, CancellationToken.None);
                await SetStateAsync(session, tenant, TenantPlacementState.Frozen, current! with { State = TenantPlacementState.Home }, actor, CancellationToken.None);
            }
            finally
            {
                await UnlockAsync(session, tenant);
            }
        }
        try
        {
            // A fresh connection: the one in use may be in the middle of a failed COPY.
            await using var target = new NpgsqlConnection(targetConnectionString);
            await target.OpenAsync();
            await DeleteFromTargetAsync(target, schema, tenant, CancellationToken.None);
        }
#pragma warning disable CA1031 // The tenant is already back home; leftovers on the target are reported, and the next attempt deletes them.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            logger.LogWarning("Rolling back the move of tenant {Tenant}: its rows on the target could not be deleted ({Error}); the next attempt deletes them",
                tenant, DatabaseWait.OneLine(ex));
        }
    }

    private static async Task UnlockAsync(NpgsqlConnection session, Guid tenant) =>
        await session.ExecuteAsync("SELECT pg_advisory_unlock(@c, @k)", new { c = TenantMoving.LockClass, k = TenantMoving.LockKey(tenant) });

    /// <summary>One transition of the directory (checked against the state machine), with the cache notification in its transaction.</summary>
    private async Task SetStateAsync(NpgsqlConnection session, Guid tenant, TenantPlacementState from, TenantPlacement to, string actor, CancellationToken ct)
    {
        if (!TenantPlacementStates.CanMove(from, to.State))
        {
            throw new InvalidOperationException($"A tenant cannot move from {from} to {to.State}.");
        }
        await using var tx = await session.BeginTransactionAsync(ct);
        var changed = await session.ExecuteAsync(new CommandDefinition("""
            INSERT INTO tenant_placements (tenant, state, host, port, database, changed_by, changed_at)
            VALUES (@tenant, @state, @host, @port, @database, @actor, @at)
            ON CONFLICT (tenant) DO UPDATE SET state = EXCLUDED.state, host = EXCLUDED.host, port = EXCLUDED.port,
              database = EXCLUDED.database, changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at
            WHERE tenant_placements.state = @from
            """, new
        {
            tenant,
            state = to.State.ToString(),
            host = to.Host,
            port = to.Port,
            database = to.Database,
            actor,
            at = clock.GetUtcNow(),
            from = from.ToString(),
        }, tx, cancellationToken: ct));
        if (changed != 1)
        {
            throw new TenantMoveException($"The tenant's move state changed under the mover (expected {from}).");
        }
        await CacheNotifications.PublishAsync(session, tx, CacheChange.Placement(tenant), ct);
        await tx.CommitAsync(ct);
        tenants.Forget(tenant);
    }

    /// <summary>
    /// The bulk copy from one REPEATABLE READ snapshot; returns the snapshot's xmin (32 bits, as <c>xmin</c> columns are),
    /// below which every committed row version was in the snapshot.
    /// </summary>
    private static async Task<long> CopyAsync(NpgsqlConnection source, NpgsqlConnection target, TenantSchema schema, Guid tenant, CancellationToken ct)
    {
        await using var sourceTx = await source.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await Db.EnterTenantAsync(source, sourceTx, tenant, ct);
        var xmin = await source.ExecuteScalarAsync<string>(new CommandDefinition("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", transaction: sourceTx, cancellationToken: ct));
        await using var targetTx = await target.BeginTransactionAsync(ct);
        await OpenTablesAsync(target, schema, ct);
        foreach (var global in schema.Globals)
        {
            await UpsertAsync(source, target, global, global.Filter(tenant), "global", doNothing: true, ct);
        }
        foreach (var table in schema.Tables)
        {
            await PipeAsync(source, $"COPY (SELECT {table.ColumnList} FROM {table.Quoted} WHERE {table.Filter(tenant)}) TO STDOUT{table.Format}",
                target, $"COPY {table.Quoted} ({table.ColumnList}) FROM STDIN{table.Format}", ct);
        }
        await AdvanceSequencesAsync(target, schema, ct);
        await CloseTablesAsync(target, schema, ct);
        await targetTx.CommitAsync(ct);
        await sourceTx.CommitAsync(ct);
        return (long)(ulong.Parse(xmin!, CultureInfo.InvariantCulture) % 4_294_967_296UL);
    }

    /// <summary>Under the freeze: rows written since the snapshot are upserted, rows deleted since are deleted.</summary>
    private static async Task CopyDeltaAsync(NpgsqlConnection source, NpgsqlConnection target, TenantSchema schema, Guid tenant, long snapshotXmin, CancellationToken ct)
    {
        await using var sourceTx = await source.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await Db.EnterTenantAsync(source, sourceTx, tenant, ct);
        await using var targetTx = await target.BeginTransactionAsync(ct);
        await OpenTablesAsync(target, schema, ct);
        foreach (var global in schema.Globals)
        {
            await UpsertAsync(source, target, global, global.Filter(tenant), "global", doNothing: true, ct);
        }
        // Children first: a deleted parent may still be referenced by a deleted child on the target.
        foreach (var table in schema.Tables.Reverse())
        {
            if (table.Key.Count == 0)
            {
                await target.ExecuteAsync(new CommandDefinition($"DELETE FROM {table.Quoted} WHERE {table.Filter(tenant)}", cancellationToken: ct));
                continue;
            }
            var keys = $"dms_move_keys_{table.Index}";
            await target.ExecuteAsync(new CommandDefinition(
                $"CREATE TEMP TABLE {keys} ON COMMIT DROP AS SELECT {table.KeyList} FROM {table.Quoted} WITH NO DATA", cancellationToken: ct));
            await PipeAsync(source, $"COPY (SELECT {table.KeyList} FROM {table.Quoted} WHERE {table.Filter(tenant)}) TO STDOUT (FORMAT BINARY)",
                target, $"COPY {keys} ({table.KeyList}) FROM STDIN (FORMAT BINARY)", ct);
            var match = string.Join(" AND ", table.Key.Select(k => $"k.{Quote(k)} = t.{Quote(k)}"));
            await target.ExecuteAsync(new CommandDefinition(
                $"DELETE FROM {table.Quoted} t WHERE {table.Filter(tenant, "t")} AND NOT EXISTS (SELECT 1 FROM {keys} k WHERE {match})",
                commandTimeout: 0, cancellationToken: ct));
        }
        // Parents first. xmin compared the way PostgreSQL compares transaction ids (modulo 2^32): not older than the snapshot.
        var changed = $"((xmin::text::bigint - {snapshotXmin} + 4294967296) % 4294967296) < 2147483648";
        foreach (var table in schema.Tables)
        {
            var filter = table.Key.Count == 0 ? table.Filter(tenant) : $"{table.Filter(tenant)} AND {changed}";
            await UpsertAsync(source, target, table, filter, "delta", doNothing: false, ct);
        }
        await AdvanceSequencesAsync(target, schema, ct);
        await CloseTablesAsync(target, schema, ct);
        await targetTx.CommitAsync(ct);
        await sourceTx.CommitAsync(ct);
    }

    /// <summary>Rows of <paramref name="table"/> matching <paramref name="filter"/> on the source, upserted by primary key on the target.</summary>
    private static async Task UpsertAsync(NpgsqlConnection source, NpgsqlConnection target, TenantTable table, string filter, string purpose, bool doNothing, CancellationToken ct)
    {
        var staging = $"dms_move_{purpose}_{table.Index}";
        await target.ExecuteAsync(new CommandDefinition(
            $"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {table.ColumnList} FROM {table.Quoted} WITH NO DATA", cancellationToken: ct));
        await PipeAsync(source, $"COPY (SELECT {table.ColumnList} FROM {table.Quoted} WHERE {filter}) TO STDOUT{table.Format}",
            target, $"COPY {staging} ({table.ColumnList}) FROM STDIN{table.Format}", ct);
        // An identity column never changes after the insert (and cannot be set by an update).
        var others = table.Columns.Where(c => !table.Key.Contains(c) && !table.Identity.Contains(c)).ToList();
        var conflict = doNothing || table.Key.Count == 0 || others.Count == 0
            ? (table.Key.Count == 0 ? "" : "ON CONFLICT DO NOTHING")
            : $"ON CONFLICT ({table.KeyList}) DO UPDATE SET {string.Join(", ", others.Select(c => $"{Quote(c)} = EXCLUDED.{Quote(c)}"))}";
        await target.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO {table.Quoted} ({table.ColumnList}) OVERRIDING SYSTEM VALUE SELECT {table.ColumnList} FROM {staging} {conflict}",
            commandTimeout: 0, cancellationToken: ct));
    }

    private static async Task PipeAsync(NpgsqlConnection source, string copyOut, NpgsqlConnection target, string copyIn, CancellationToken ct)
    {
        if (!copyOut.EndsWith("(FORMAT BINARY)", StringComparison.Ordinal))
        {
            using var text = await source.BeginTextExportAsync(copyOut, ct);
            await using var into = await target.BeginTextImportAsync(copyIn, ct);
            var buffer = new char[1 << 15];
            int read;
            while ((read = await text.ReadAsync(buffer, ct)) > 0)
            {
                await into.WriteAsync(buffer.AsMemory(0, read), ct);
            }
            return;
        }
        await using var reader = await source.BeginRawBinaryCopyAsync(copyOut, ct);
        await using var writer = await target.BeginRawBinaryCopyAsync(copyIn, ct);
        await reader.CopyToAsync(writer, 1 << 16, ct);
    }

    /// <summary>
    /// For the copy's transaction on the target: the owner writes the rows as they are. Row-level security is not forced on
    /// the owner (COPY FROM refuses tables whose policies apply) and user triggers are off, so the derived rows (search
    /// index, tags, storage counters) are copied rather than recomputed and nothing counts twice. ALTER TABLE locks the
    /// tables until the commit, which puts them back as they were: other tenants in the target database wait meanwhile.
    /// </summary>
    private static async Task OpenTablesAsync(NpgsqlConnection target, TenantSchema schema, CancellationToken ct)
    {
        var sql = new StringBuilder();
        foreach (var table in schema.Tables.Concat(schema.Globals))
        {
            sql.Append(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Quoted} DISABLE TRIGGER USER;");
            if (table.ForcedSecurity)
            {
                sql.Append(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Quoted} NO FORCE ROW LEVEL SECURITY;");
            }
        }
        await target.ExecuteAsync(new CommandDefinition(sql.ToString(), commandTimeout: 0, cancellationToken: ct));
    }

    private static async Task CloseTablesAsync(NpgsqlConnection target, TenantSchema schema, CancellationToken ct)
    {
        var sql = new StringBuilder();
        foreach (var table in schema.Tables.Concat(schema.Globals))
        {
            sql.Append(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Quoted} ENABLE TRIGGER USER;");
            if (table.ForcedSecurity)
            {
                sql.Append(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Quoted} FORCE ROW LEVEL SECURITY;");
            }
        }
        await target.ExecuteAsync(new CommandDefinition(sql.ToString(), cancellationToken: ct));
    }

    /// <summary>Every sequence behind a copied column ends past the copied values (it never goes back: other tenants may use it).</summary>
    private static async Task AdvanceSequencesAsync(NpgsqlConnection target, TenantSchema schema, CancellationToken ct)
    {
        foreach (var table in schema.Tables.Concat(schema.Globals))
        {
            foreach (var (column, sequence) in table.Sequences)
            {
                await target.ExecuteAsync(new CommandDefinition(
                    $"SELECT setval('{sequence}', GREATEST(m, (SELECT last_value FROM {sequence}))) FROM (SELECT max({Quote(column)}) AS m FROM {table.Quoted}) x WHERE m IS NOT NULL",
                    cancellationToken: ct));
            }
        }
    }

    private static async Task DeleteFromTargetAsync(NpgsqlConnection target, TenantSchema schema, Guid tenant, CancellationToken ct)
    {
        await using var tx = await target.BeginTransactionAsync(ct);
        await OpenTablesAsync(target, schema, ct);
        foreach (var table in schema.Tables.Reverse())
        {
            await target.ExecuteAsync(new CommandDefinition($"DELETE FROM {table.Quoted} WHERE {table.Filter(tenant)}", commandTimeout: 0, cancellationToken: ct));
        }
        await CloseTablesAsync(target, schema, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>Row count and checksum of each table's tenant rows on both sides (under the freeze, so they must agree); returns the rows.</summary>
    private static async Task<long> VerifyAsync(NpgsqlConnection source, NpgsqlConnection target, TenantSchema schema, Guid tenant, CancellationToken ct)
    {
        long rows = 0;
        foreach (var table in schema.Tables)
        {
            var order = table.Key.Count == 0 ? "1" : table.KeyList;
            var sql = $"SELECT count(*) AS rows, coalesce(md5(string_agg(md5(ROW({table.ColumnList})::text), '' ORDER BY {order})), '') AS sum FROM {table.Quoted} WHERE {table.Filter(tenant)}";
            if (table.Key.Count == 0)
            {
                sql = $"SELECT count(*) AS rows, coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS sum FROM (SELECT md5(ROW({table.ColumnList})::text) AS h FROM {table.Quoted} WHERE {table.Filter(tenant)}) x";
            }
            // Both sides at once: the freeze lasts as long as the slower of the two.
            var (sourceSum, targetSum) = (ChecksumAsync(source, sql, tenant, ct), ChecksumAsync(target, sql, tenant, ct));
            var (a, b) = (await sourceSum, await targetSum);
            if (a != b)
            {
                throw new TenantMoveException($"Verification failed for table {table.Name}: {a.Rows} row(s) in the main database, {b.Rows} in the target, or their checksums differ.");
            }
            rows += a.Rows;
        }
        return rows;
    }

    private static async Task<(long Rows, string Sum)> ChecksumAsync(NpgsqlConnection conn, string sql, Guid tenant, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        await Db.EnterTenantAsync(conn, tx, tenant, ct);
        var result = await conn.QuerySingleAsync<(long Rows, string Sum)>(new CommandDefinition(sql, transaction: tx, commandTimeout: 0, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return result;
    }

    private static string Address(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{b.Host}:{b.Port}/{b.Database}";
    }

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
