using Dapper;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// A table a tenant move copies: its stored columns (generated ones are recomputed by the target), its primary key, the
/// sequences behind its columns, and how the tenant's rows are found (<c>tenant_id</c>, or <c>id</c> for the tenants row).
/// </summary>
internal sealed record TenantTable(int Index, string Name, IReadOnlyList<string> Columns, IReadOnlyList<string> Key, bool ForcedSecurity,
    IReadOnlyList<(string Column, string Sequence)> Sequences, IReadOnlyList<string> Identity, string TenantColumn, string? GlobalFilterSql = null)
{
    /// <summary>
    /// Copied as text, not binary: a column holds an OID (regconfig: the search configuration dms_simple has another OID in
    /// every database) or a composite whose binary form names type OIDs. As text they travel by name.
    /// </summary>
    public bool Text { get; init; }

    public string Format => Text ? "" : " (FORMAT BINARY)";

    public string Quoted => TenantMover.Quote(Name);
    public string ColumnList => string.Join(", ", Columns.Select(TenantMover.Quote));
    public string KeyList => string.Join(", ", Key.Select(TenantMover.Quote));

    /// <summary>The SQL condition for the tenant's rows (the tenant id is a Guid, so it is safe as a literal; COPY takes no parameters).</summary>
    public string Filter(Guid tenant, string? alias = null)
    {
        var prefix = alias is null ? "" : alias + ".";
        return GlobalFilterSql is { } global ? global.Replace("{tenant}", tenant.ToString(), StringComparison.Ordinal) : $"{prefix}{TenantMover.Quote(TenantColumn)} = '{tenant}'";
    }
}

/// <summary>
/// What a tenant move copies, read from the catalog so a table added later is covered without touching the mover: the
/// tenants row, then every table with a <c>tenant_id</c> column in foreign-key order (parents first), and the global
/// rows those tables reference (copied first, kept if already there).
/// </summary>
internal sealed record TenantSchema(IReadOnlyList<TenantTable> Tables, IReadOnlyList<TenantTable> Globals)
{
    public static async Task<TenantSchema> ReadAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var tables = (await conn.QueryAsync<(string Name, bool Forced)>(new CommandDefinition("""
            SELECT c.relname, c.relforcerowsecurity FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
              AND c.relname NOT IN ('tenant_placements', 'schema_migrations')
            ORDER BY c.relname
            """, cancellationToken: ct))).ToList();
        var names = tables.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var references = (await conn.QueryAsync<(string From, string To, string FromColumns, string ToColumns)>(new CommandDefinition("""
            SELECT f.relname, t.relname,
                   (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
                   (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)
            FROM pg_constraint c JOIN pg_class f ON f.oid = c.conrelid JOIN pg_class t ON t.oid = c.confrelid
            WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
            """, cancellationToken: ct))).ToList();

        // Parents first (Kahn); a cycle, should one appear, keeps name order for what remains.
        var order = new List<string>();
        var pending = names.OrderBy(n => n, StringComparer.Ordinal).ToList();
        while (pending.Count > 0)
        {
            var ready = pending.FirstOrDefault(n => !references.Any(r => r.From == n && r.To != n && pending.Contains(r.To))) ?? pending[0];
            order.Add(ready);
            pending.Remove(ready);
        }

        var result = new List<TenantTable>();
        var index = 0;
        foreach (var name in order)
        {
            var forced = tables.First(t => t.Name == name).Forced;
            result.Add(await DescribeAsync(conn, index++, name, forced, name == "tenants" ? "id" : "tenant_id", null, ct));
        }
        // Global rows a tenant's rows point at (a plan): all rows the tenant's tables reference, one level deep.
        var globals = new List<TenantTable>();
        foreach (var group in references.Where(r => names.Contains(r.From) && !names.Contains(r.To) && r.To != "tenant_placements").GroupBy(r => r.To))
        {
            var conditions = group.Select(r =>
            {
                var fromTable = TenantMover.Quote(r.From);
                var fromFilter = r.From == "tenants" ? "id = '{tenant}'" : "tenant_id = '{tenant}'";
                return $"({string.Join(", ", r.ToColumns.Split(',').Select(TenantMover.Quote))}) IN (SELECT {string.Join(", ", r.FromColumns.Split(',').Select(TenantMover.Quote))} FROM {fromTable} WHERE {fromFilter})";
            });
            var forced = await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT relforcerowsecurity FROM pg_class WHERE oid = @name::regclass", new { name = group.Key }, cancellationToken: ct));
            globals.Add(await DescribeAsync(conn, index++, group.Key, forced, "", string.Join(" OR ", conditions), ct));
        }
        return new TenantSchema(result, globals);
    }

    private static async Task<TenantTable> DescribeAsync(NpgsqlConnection conn, int index, string name, bool forced, string tenantColumn, string? globalFilter, CancellationToken ct)
    {
        var columns = (await conn.QueryAsync<(string Name, string? Sequence, bool Identity, bool ByName)>(new CommandDefinition("""
            SELECT a.attname, pg_get_serial_sequence(quote_ident(@name), a.attname), a.attidentity <> '',
                   (t.typname LIKE 'reg%' AND t.typnamespace = 'pg_catalog'::regnamespace) OR t.typtype = 'c'
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = @name::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, new { name }, cancellationToken: ct))).ToList();
        var key = (await conn.QueryAsync<string>(new CommandDefinition("""
            SELECT a.attname FROM pg_index i
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = @name::regclass AND i.indisprimary
            ORDER BY k.n
            """, new { name }, cancellationToken: ct))).ToList();
        return new TenantTable(index, name, columns.Select(c => c.Name).ToList(), key, forced,
            columns.Where(c => c.Sequence is not null).Select(c => (c.Name, c.Sequence!)).ToList(),
            columns.Where(c => c.Identity).Select(c => c.Name).ToList(), tenantColumn, globalFilter)
        {
            Text = columns.Any(c => c.ByName),
        };
    }
}
