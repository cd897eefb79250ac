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
    /// Checks the audit chain of the tenant in the database of the given runtime data source: the Audit module's verification
    /// (the command line passes it in: Platform sees no module). Called twice (ADR 0041): before the freeze on the bulk copy
    /// (<paramref name="final"/> false, the signed checkpoint not compared: it may be newer than the copy), which answers the
    /// last link it checked; then under the freeze only from that link on, with the head and checkpoint compared, so the
    /// freeze does not grow with the tenant's trail.
    /// </summary>
    public delegate Task<AuditCheckResult> AuditCheck(NpgsqlDataSource target, Guid tenant, (long Seq, string Hash)? after, bool final, CancellationToken ct);

    /// <summary>Null <paramref name="Problem"/>: valid. <paramref name="Last"/>: the last chained link checked (null: none).</summary>
    public sealed record AuditCheckResult(string? Problem, (long Seq, string Hash)? Last);

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
        TenantMoveResult result;
        try
        {
            // Leftovers of an earlier attempt that died before its rollback.
            await DeleteFromTargetAsync(targetConnection, schema, tenant, ct);

            // Before the snapshot: every change the triggers miss is in it (TenantMoveChanges.InstallAsync).
            progress("logging the tenant's changes from now on (triggers on its tables)");
            await TenantMoveChanges.InstallAsync(session, schema, tenant, ct);

            progress("copying the tenant's rows");
            await CopyAsync(source, targetConnection, schema, tenant, progress, ct);

            progress("verifying the copied audit chain (live)");
            var runtimeTarget = tenants.SourceAt(placement with { State = TenantPlacementState.Moved });
            var copiedChain = await auditCheck(runtimeTarget, tenant, null, final: false, ct);
            if (copiedChain.Problem is { } copiedProblem)
            {
                throw new TenantMoveException($"The audit chain of the copy does not verify ({copiedProblem}).");
            }

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

            progress("copying and verifying the changes logged since the snapshot");
            var rows = await CopyChangesAsync(source, targetConnection, schema, tenant, progress, ct);
            await faults.TenantMoveStepAsync("delta");

            progress("verifying the audit chain on the target from the link checked before the freeze");
            await using (var conn = await runtimeTarget.OpenConnectionAsync(ct))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await Db.EnterTenantAsync(conn, tx, tenant, ct);
                await audit.RecordAsync(conn, tx, "tenant.moved", "tenant", $"{tenant} from {from} to {placement.Address}", ct);
                await tx.CommitAsync(ct);
            }
            if ((await auditCheck(runtimeTarget, tenant, copiedChain.Last, final: true, ct)).Problem is { } problem)
            {
                throw new TenantMoveException($"The audit chain of the copy does not verify ({problem}).");
            }
            await faults.TenantMoveStepAsync("verify");

            progress("switching the tenant to its new database");
            await SetStateAsync(session, tenant, TenantPlacementState.Frozen, placement with { State = TenantPlacementState.Moved }, actor, ct);
            var freeze = Stopwatch.GetElapsedTime(freezeStarted);
            await UnlockAsync(session, tenant);
            logger.LogInformation("Tenant {Tenant} moved from {From} to {To}: {Rows} rows, frozen for {Freeze} ms", tenant, from, placement.Address, rows,
                (long)freeze.TotalMilliseconds);
            result = new TenantMoveResult(tenant, from, placement.Address, rows, schema.Tables.Count, Stopwatch.GetElapsedTime(started), freeze);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            progress($"failed ({DatabaseWait.OneLine(ex)}); rolling back");
            await RollBackAsync(session, targetConnectionString, schema, tenant, frozen, actor);
            throw ex as TenantMoveException ?? new TenantMoveException($"The move failed and was rolled back: {DatabaseWait.OneLine(ex)}", ex);
        }
        // Moved: what is left is housekeeping, which must not undo the move.
        progress("removing the change log");
        await RemoveChangeLogAsync(session, tenant);
        return result;
    }

    /// <summary>Best effort: a trigger left behind logs nothing more for a moved tenant, and the next move or unfreeze removes it.</summary>
    private async Task RemoveChangeLogAsync(NpgsqlConnection session, Guid tenant)
    {
        try
        {
            if (!await TenantMoveChanges.RemoveAsync(session, tenant, throwOnTimeout: false, CancellationToken.None))
            {
                logger.LogWarning("Tenant {Tenant}: some of the move's change-log triggers could not be removed (their tables stayed locked); the next move or unfreeze removes them", tenant);
            }
        }
#pragma warning disable CA1031 // Housekeeping after the move (or its rollback): reported, never thrown.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            logger.LogWarning("Tenant {Tenant}: the move's change log could not be removed ({Error}); the next move or unfreeze removes it", tenant, DatabaseWait.OneLine(ex));
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
            // A move that died before its freeze may have left its change log behind.
            await RemoveChangeLogAsync(session, tenant);
            return false;
        }
        await SetStateAsync(session, tenant, TenantPlacementState.Frozen, current with { State = TenantPlacementState.Home }, actor, ct);
        await RemoveChangeLogAsync(session, tenant);
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
        await RemoveChangeLogAsync(session, tenant);
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
    /// The bulk copy from one REPEATABLE READ snapshot, verified against that snapshot before the freeze: per table, row
    /// counts and checksums of the source (in the snapshot) and of the target (all the tenant's rows there), both sides at
    /// once. Then the target's tables are vacuumed and analyzed, so the counts and key lookups under the freeze are quick.
    /// </summary>
    private async Task CopyAsync(NpgsqlConnection source, NpgsqlConnection target, TenantSchema schema, Guid tenant, Action<string> progress, CancellationToken ct)
    {
        await using var sourceTx = await source.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await Db.EnterTenantAsync(source, sourceTx, tenant, ct);
        await using (var targetTx = await target.BeginTransactionAsync(ct))
        {
            await OpenTablesAsync(target, schema.Tables.Concat(schema.Globals), ct);
            foreach (var global in schema.Globals)
            {
                await StageAsync(source, target, global, global.Filter(tenant), ct);
                await ApplyAsync(target, global, doNothing: true, ct);
            }
            foreach (var table in schema.Tables)
            {
                await PipeAsync(source, $"COPY (SELECT {table.ColumnList} FROM {table.Quoted} WHERE {table.Filter(tenant)}) TO STDOUT{table.Format}",
                    target, $"COPY {table.Quoted} ({table.ColumnList}) FROM STDIN{table.Format}", ct);
            }
            await AdvanceSequencesAsync(target, schema.Tables.Concat(schema.Globals), ct);
            await CloseTablesAsync(target, schema.Tables.Concat(schema.Globals), ct);
            await targetTx.CommitAsync(ct);
        }
        await faults.TenantMoveStepAsync("copy");

        progress("verifying the copy against its snapshot (live)");
        var sourceSums = ChecksumsAsync(source, sourceTx, schema.Tables, t => t.Filter(tenant, "t"), tenant, ct);
        var targetSums = ChecksumsAsync(target, null, schema.Tables, t => t.Filter(tenant, "t"), tenant, ct);
        Compare(schema.Tables, await sourceSums, await targetSums, "after the bulk copy");
        await sourceTx.CommitAsync(ct);

        progress("analyzing the target's tables");
        await target.ExecuteAsync(new CommandDefinition(
            $"VACUUM (ANALYZE) {string.Join(", ", schema.Tables.Concat(schema.Globals).Select(t => t.Quoted).Distinct(StringComparer.Ordinal))}",
            commandTimeout: 0, cancellationToken: ct));
    }

    /// <summary>
    /// Under the freeze, in one transaction on each side: the rows whose keys the change log holds are copied (upserted
    /// parents first; the logged keys the source no longer has are deleted, children first); a table without a primary key
    /// that was touched is copied whole. Then verified: row counts of every table, and the checksums of the logged rows
    /// (ADR 0041: the other rows did not change since the snapshot the bulk copy was verified against). Returns the rows.
    /// </summary>
    private static async Task<long> CopyChangesAsync(NpgsqlConnection source, NpgsqlConnection target, TenantSchema schema, Guid tenant, Action<string> progress, CancellationToken ct)
    {
        await using var sourceTx = await source.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await Db.EnterTenantAsync(source, sourceTx, tenant, ct);
        var changed = await TenantMoveChanges.ChangedTablesAsync(source, sourceTx, tenant, ct);
        var tables = schema.Tables.Where(t => changed.ContainsKey(t.Name)).ToList();
        progress(string.Create(CultureInfo.InvariantCulture, $"{changed.Values.Sum()} logged change(s) in {tables.Count} table(s): {string.Join(", ", tables.Select(t => t.Name))}"));

        await using var targetTx = await target.BeginTransactionAsync(ct);
        await Db.EnterTenantAsync(target, targetTx, tenant, ct);
        await target.ExecuteAsync(new CommandDefinition("CREATE TEMP TABLE dms_move_changed (table_name text NOT NULL, key jsonb NOT NULL) ON COMMIT DROP", cancellationToken: ct));
        await PipeAsync(source, $"COPY (SELECT DISTINCT table_name, key FROM tenant_move_changes WHERE tenant = '{tenant}') TO STDOUT",
            target, "COPY dms_move_changed (table_name, key) FROM STDIN", ct);
        foreach (var table in tables)
        {
            await StageAsync(source, target, table, ChangedFilter(table, tenant, source: true), ct);
        }
        await OpenTablesAsync(target, tables.Concat(schema.Globals), ct);
        // Children first: a deleted parent may still be referenced by a deleted child on the target.
        foreach (var table in Enumerable.Reverse(tables))
        {
            var gone = table.Key.Count == 0
                ? table.Filter(tenant, "t")
                : $"{ChangedFilter(table, tenant, source: false)} AND NOT EXISTS (SELECT 1 FROM {Staging(table)} s WHERE {string.Join(" AND ", table.Key.Select(k => $"s.{Quote(k)} = t.{Quote(k)}"))})";
            await target.ExecuteAsync(new CommandDefinition($"DELETE FROM {table.Quoted} t WHERE {gone}", commandTimeout: 0, cancellationToken: ct));
        }
        foreach (var global in schema.Globals)
        {
            await StageAsync(source, target, global, global.Filter(tenant), ct);
            await ApplyAsync(target, global, doNothing: true, ct);
        }
        foreach (var table in tables)
        {
            await ApplyAsync(target, table, doNothing: false, ct);
        }
        await AdvanceSequencesAsync(target, tables.Concat(schema.Globals), ct);
        await CloseTablesAsync(target, tables.Concat(schema.Globals), ct);

        // Counts of every table (both sides at once), then the logged rows' checksums.
        var counts = string.Join(" UNION ALL ", schema.Tables.Select(t => $"SELECT {t.Index} AS i, count(*) AS n FROM {t.Quoted} WHERE {t.Filter(tenant)}"));
        var sourceCounts = source.QueryAsync<(int I, long N)>(new CommandDefinition(counts, transaction: sourceTx, commandTimeout: 0, cancellationToken: ct));
        var targetCounts = target.QueryAsync<(int I, long N)>(new CommandDefinition(counts, transaction: targetTx, commandTimeout: 0, cancellationToken: ct));
        var (a, b) = ((await sourceCounts).ToDictionary(x => x.I, x => x.N), (await targetCounts).ToDictionary(x => x.I, x => x.N));
        foreach (var table in schema.Tables)
        {
            if (a[table.Index] != b[table.Index])
            {
                throw new TenantMoveException(string.Create(CultureInfo.InvariantCulture,
                    $"Verification failed for table {table.Name} under the freeze: {a[table.Index]} row(s) in the main database, {b[table.Index]} in the target."));
            }
        }
        var sourceSums = ChecksumsAsync(source, sourceTx, tables, t => ChangedFilter(t, tenant, source: true), tenant, ct);
        var targetSums = ChecksumsAsync(target, targetTx, tables, t => ChangedFilter(t, tenant, source: false), tenant, ct);
        Compare(tables, await sourceSums, await targetSums, "under the freeze (rows changed since the snapshot)");

        await targetTx.CommitAsync(ct);
        await sourceTx.CommitAsync(ct);
        return b.Values.Sum();
    }

    /// <summary>The rows of a changed table to copy and verify under the freeze (alias t): those with logged keys, or all of a table without a key.</summary>
    private static string ChangedFilter(TenantTable table, Guid tenant, bool source) => table.Key.Count == 0
        ? table.Filter(tenant, "t")
        : $"{table.Filter(tenant, "t")} AND " + (source
            ? TenantMoveChanges.LoggedKey(table, "tenant_move_changes", $"c.tenant = '{tenant}'")
            : TenantMoveChanges.LoggedKey(table, "dms_move_changed", null));

    private static string Staging(TenantTable table) => $"dms_move_staging_{table.Index}";

    /// <summary>Rows of <paramref name="table"/> matching <paramref name="filter"/> (alias t) on the source, into a temporary table on the target.</summary>
    private static async Task StageAsync(NpgsqlConnection source, NpgsqlConnection target, TenantTable table, string filter, CancellationToken ct)
    {
        await target.ExecuteAsync(new CommandDefinition(
            $"CREATE TEMP TABLE {Staging(table)} ON COMMIT DROP AS SELECT {table.ColumnList} FROM {table.Quoted} WITH NO DATA", cancellationToken: ct));
        await PipeAsync(source, $"COPY (SELECT {table.ColumnList} FROM {table.Quoted} t WHERE {filter}) TO STDOUT{table.Format}",
            target, $"COPY {Staging(table)} ({table.ColumnList}) FROM STDIN{table.Format}", ct);
    }

    /// <summary>The staged rows of <paramref name="table"/>, upserted by primary key (or inserted, without one).</summary>
    private static async Task ApplyAsync(NpgsqlConnection target, TenantTable table, bool doNothing, CancellationToken ct)
    {
        // An identity column never changes after the insert (and cannot be set by an update).
        var others = table.Columns.Where(c => !table.Key.Contains(c) && !table.Identity.Contains(c)).ToList();
        var conflict = doNothing || table.Key.Count == 0 || others.Count == 0
            ? (table.Key.Count == 0 ? "" : "ON CONFLICT DO NOTHING")
            : $"ON CONFLICT ({table.KeyList}) DO UPDATE SET {string.Join(", ", others.Select(c => $"{Quote(c)} = EXCLUDED.{Quote(c)}"))}";
        await target.ExecuteAsync(new CommandDefinition(
            $"INSERT INTO {table.Quoted} ({table.ColumnList}) OVERRIDING SYSTEM VALUE SELECT {table.ColumnList} FROM {Staging(table)} {conflict}",
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
    private static async Task OpenTablesAsync(NpgsqlConnection target, IEnumerable<TenantTable> tables, CancellationToken ct)
    {
        var sql = new StringBuilder();
        foreach (var table in tables)
        {
            sql.Append(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Quoted} DISABLE TRIGGER USER;");
            if (table.ForcedSecurity)
            {
                sql.Append(CultureInfo.InvariantCulture, $"ALTER TABLE {table.Quoted} NO FORCE ROW LEVEL SECURITY;");
            }
        }
        await target.ExecuteAsync(new CommandDefinition(sql.ToString(), commandTimeout: 0, cancellationToken: ct));
    }

    private static async Task CloseTablesAsync(NpgsqlConnection target, IEnumerable<TenantTable> tables, CancellationToken ct)
    {
        var sql = new StringBuilder();
        foreach (var table in tables)
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
    private static async Task AdvanceSequencesAsync(NpgsqlConnection target, IEnumerable<TenantTable> tables, CancellationToken ct)
    {
        foreach (var table in tables)
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
        await OpenTablesAsync(target, schema.Tables.Concat(schema.Globals), ct);
        foreach (var table in schema.Tables.Reverse())
        {
            await target.ExecuteAsync(new CommandDefinition($"DELETE FROM {table.Quoted} WHERE {table.Filter(tenant)}", commandTimeout: 0, cancellationToken: ct));
        }
        await CloseTablesAsync(target, schema.Tables.Concat(schema.Globals), ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Row count and checksum (md5 of the rows' md5s in key order) of <paramref name="filter"/>'s rows (alias t) of each
    /// table, in order, on one side: in <paramref name="tx"/>, or each in a transaction of its own.
    /// </summary>
    private static async Task<List<(long Rows, string Sum)>> ChecksumsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, IReadOnlyList<TenantTable> tables,
        Func<TenantTable, string> filter, Guid tenant, CancellationToken ct)
    {
        var sums = new List<(long, string)>(tables.Count);
        foreach (var table in tables)
        {
            var sql = table.Key.Count == 0
                ? $"SELECT count(*) AS rows, coalesce(md5(string_agg(h, '' ORDER BY h)), '') AS sum FROM (SELECT md5(ROW({table.ColumnList})::text) AS h FROM {table.Quoted} t WHERE {filter(table)}) x"
                : $"SELECT count(*) AS rows, coalesce(md5(string_agg(md5(ROW({table.ColumnList})::text), '' ORDER BY {table.KeyList})), '') AS sum FROM {table.Quoted} t WHERE {filter(table)}";
            if (tx is not null)
            {
                sums.Add(await conn.QuerySingleAsync<(long, string)>(new CommandDefinition(sql, transaction: tx, commandTimeout: 0, cancellationToken: ct)));
                continue;
            }
            await using var own = await conn.BeginTransactionAsync(ct);
            await Db.EnterTenantAsync(conn, own, tenant, ct);
            sums.Add(await conn.QuerySingleAsync<(long, string)>(new CommandDefinition(sql, transaction: own, commandTimeout: 0, cancellationToken: ct)));
            await own.CommitAsync(ct);
        }
        return sums;
    }

    private static void Compare(IReadOnlyList<TenantTable> tables, List<(long Rows, string Sum)> source, List<(long Rows, string Sum)> target, string when)
    {
        for (var i = 0; i < tables.Count; i++)
        {
            if (source[i] != target[i])
            {
                throw new TenantMoveException(string.Create(CultureInfo.InvariantCulture,
                    $"Verification failed for table {tables[i].Name} {when}: {source[i].Rows} row(s) in the main database, {target[i].Rows} in the target, or their checksums differ."));
            }
        }
    }

    private static string Address(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{b.Host}:{b.Port}/{b.Database}";
    }

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
