using System.Text.RegularExpressions;

namespace Dms.Tests.Architecture;

internal enum TableAccess { Reads, Writes }

/// <summary>A table named in SQL text, how it is used, and where in the text (for the line number).</summary>
internal sealed record TableUse(string Table, TableAccess Access, int Offset);

/// <summary>
/// Finds the tables a piece of SQL text writes (INSERT INTO, UPDATE, DELETE FROM, TRUNCATE, MERGE INTO) and reads
/// (FROM, JOIN, USING).
/// Decisions, so that prose ("Remove the file from storage") never reads as SQL:
/// - Keywords count only in CAPITALS. All SQL in this code base is written that way and messages are not, e.g.
///   "they cannot join workspaces" is an error message, not a join. <see cref="LooksLikeLowercaseSql"/> closes the gap:
///   the ownership test fails on a literal that starts like a lower-case statement.
/// - After a keyword, any identifier is a table, known or not, so a new table without an owner is caught; except
///   a function call (<c>FROM unnest(@keys)</c>), a CTE named in the same text (<c>WITH RECURSIVE up AS (…) … FROM up</c>),
///   system catalogs (<c>pg_*</c>, <c>information_schema</c>) and clauses that reuse the words
///   (<c>FOR UPDATE</c>, <c>FOR NO KEY UPDATE</c>, <c>DO UPDATE SET</c>, <c>IS DISTINCT FROM</c>, <c>EXTRACT(EPOCH FROM x)</c>,
///   <c>REVOKE … FROM PUBLIC</c>).
/// - Subqueries and interpolation holes (<c>FROM {Table}</c>) name no table here; a table name built at run time
///   would escape the test, and none is.
/// - Only the first table of a comma list (<c>FROM a, b</c>) is seen; the code base writes joins.
/// </summary>
internal static partial class SqlTables
{
    private const string Ident = @"(?<t>(?>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?))";

    [GeneratedRegex(@"\bINSERT\s+INTO\s+" + Ident)]
    private static partial Regex InsertInto();

    [GeneratedRegex(@"(?<!\b(?:FOR|DO|KEY)\s+)\bUPDATE\s+(?:ONLY\s+)?" + Ident)]
    private static partial Regex Update();

    [GeneratedRegex(@"\bDELETE\s+FROM\s+(?:ONLY\s+)?" + Ident)]
    private static partial Regex DeleteFrom();

    [GeneratedRegex(@"\bTRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?" + Ident)]
    private static partial Regex Truncate();

    [GeneratedRegex(@"\bMERGE\s+INTO\s+" + Ident)]
    private static partial Regex MergeInto();

    [GeneratedRegex(@"(?<!\bREVOKE\b[^;]*)(?<!\b(?:DISTINCT|DELETE|EPOCH|YEAR|MONTH|DAY|HOUR|MINUTE|SECOND)\s+)\bFROM\s+(?:ONLY\s+)?" + Ident + @"(?!\s*\()")]
    private static partial Regex From();

    [GeneratedRegex(@"\bJOIN\s+(?:LATERAL\s+)?(?:ONLY\s+)?" + Ident + @"(?!\s*\()")]
    private static partial Regex Join();

    [GeneratedRegex(@"\bUSING\s+(?:ONLY\s+)?" + Ident + @"(?!\s*\()")]
    private static partial Regex Using();

    [GeneratedRegex(@"(?<t>(?>[A-Za-z_][A-Za-z0-9_]*))\s*(?:\([^()]*\)\s*)?\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(")]
    private static partial Regex CteName();

    [GeneratedRegex(@"^\s*(?:select\s|insert\s+into\s|delete\s+from\s|update\s+\w+\s+set\s|with\s+(?:recursive\s+)?\w+\s+as\s*\()")]
    private static partial Regex LowercaseStatement();

    /// <summary>
    /// Words that can follow UPDATE/FROM/JOIN in valid SQL without being a table (STDIN: <c>COPY t FROM STDIN</c>; ON:
    /// <c>CREATE TRIGGER … AFTER UPDATE ON t</c>).
    /// </summary>
    private static readonly HashSet<string> NotTables = new(StringComparer.OrdinalIgnoreCase) { "SET", "OF", "SKIP", "NOWAIT", "LATERAL", "ONLY", "SELECT", "STDIN", "ON" };

    public static IReadOnlyList<TableUse> Find(string sql)
    {
        var ctes = CteName().Matches(sql).Select(m => m.Groups["t"].Value).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var found = new List<TableUse>();

        void Add(Regex regex, TableAccess access)
        {
            foreach (Match m in regex.Matches(sql))
            {
                var g = m.Groups["t"];
                var parts = g.Value.Split('.');
                if (parts.Length == 2 && parts[0] is "pg_catalog" or "information_schema")
                {
                    continue;
                }
                var table = parts[^1].ToLowerInvariant();
                if (NotTables.Contains(table) || ctes.Contains(table) || table.StartsWith("pg_", StringComparison.Ordinal))
                {
                    continue;
                }
                found.Add(new TableUse(table, access, g.Index));
            }
        }

        Add(InsertInto(), TableAccess.Writes);
        Add(Update(), TableAccess.Writes);
        Add(DeleteFrom(), TableAccess.Writes);
        Add(Truncate(), TableAccess.Writes);
        Add(MergeInto(), TableAccess.Writes);
        Add(From(), TableAccess.Reads);
        Add(Join(), TableAccess.Reads);
        Add(Using(), TableAccess.Reads);
        return found.OrderBy(u => u.Offset).ToList();
    }

    /// <summary>True for text that starts like an SQL statement written in lower case, which <see cref="Find"/> would not read.</summary>
    public static bool LooksLikeLowercaseSql(string text) => LowercaseStatement().IsMatch(text);
}
