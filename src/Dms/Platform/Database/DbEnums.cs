using System.Data;
using Dapper;

namespace Dms.Platform.Database;

/// <summary>
/// States are C# enums stored as their names in <c>text</c> columns (readable in SQL, checked by CHECK constraints).
/// Reading: a Dapper type handler per enum parses the name and fails loudly on an unknown one. Writing: Dapper
/// never consults type handlers for enum <em>parameters</em> and would send the number (DapperLib/Dapper#259), so a
/// parameter is passed as <see cref="Db{T}(T)"/>, and a state named inside SQL text is written with
/// <see cref="Sql{T}(T)"/>, which keeps it a constant the planner can match against partial indexes.
/// </summary>
internal static class DbEnums
{
    /// <summary>The stored form of a state, for a query parameter.</summary>
    public static string Db<T>(this T value) where T : struct, Enum => value.ToString();

    /// <summary>A state as an SQL literal, for SQL text: <c>'Active'</c>. Enum names are identifiers, so this is safe to inline.</summary>
    public static string Sql<T>(this T value) where T : struct, Enum => $"'{value}'";

    /// <summary>States as an SQL list for <c>IN (…)</c>: <c>'PendingDelete', 'PendingReplace'</c>.</summary>
    public static string Sql<T>(this IEnumerable<T> values) where T : struct, Enum => string.Join(", ", values.Select(v => v.Sql()));

    /// <summary>Registers a reading handler for <typeparamref name="T"/>; called once per state enum at start-up.</summary>
    public static void Register<T>() where T : struct, Enum => SqlMapper.AddTypeHandler(new NameHandler<T>());

    private sealed class NameHandler<T> : SqlMapper.TypeHandler<T> where T : struct, Enum
    {
        public override T Parse(object value) =>
            value is string name && Enum.TryParse<T>(name, ignoreCase: false, out var parsed) && Enum.IsDefined(parsed)
                ? parsed
                : throw new DataException($"'{value}' is not a {typeof(T).Name}.");

        public override void SetValue(IDbDataParameter parameter, T value)
        {
            parameter.DbType = DbType.String;
            parameter.Value = value.ToString();
        }
    }
}
