using System.Text.Json;
using System.Text.RegularExpressions;
using Dapper;
using Dms.Modules.Documents.Browse;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents.Views;

/// <summary>Who saved a view.</summary>
internal sealed record ViewOwner(Guid Id, string Email);

/// <summary>
/// A saved view as the API shows it. <see cref="Pinned"/> is the caller's own pin; <see cref="Mine"/>, <see cref="CanEdit"/> and
/// <see cref="CanDelete"/> say what the caller may do with it. <see cref="Count"/> is filled only where counts are asked for (home).
/// </summary>
internal sealed record ViewResponse(Guid Id, string Name, IReadOnlyDictionary<string, string> Query, IReadOnlyList<string> Columns, bool Shared,
    bool Pinned, ViewOwner Owner, DateTime CreatedAt, DateTime UpdatedAt, bool Mine, bool CanEdit, bool CanDelete)
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public long? Count { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? CountCapped { get; init; }

    /// <summary>Why a pinned view has no count (its query no longer runs, e.g. its folder is gone), in words.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? CountProblem { get; init; }
}

/// <summary>The answer of <c>GET /api/v1/views/{id}/count</c>: documents the caller can read that match, up to the cap.</summary>
internal sealed record ViewCountResponse(Guid Id, long Count, bool CountCapped);

/// <summary>
/// The rules of a saved view (name, columns, query) and its rows in <c>saved_views</c> and <c>saved_view_pins</c>. A private view
/// exists only for its owner (404 for anyone else); a shared one is read by the whole tenant and changed by its owner only.
/// </summary>
internal static partial class SavedViews
{
    public const int NameMax = 100;
    public const int MaxColumns = 20;

    /// <summary>The columns a view may show, beside <c>fields.&lt;key&gt;</c> (a custom field of a document type).</summary>
    public static readonly IReadOnlyList<string> FixedColumns = ["title", "type", "tags", "status", "updatedAt", "size", "workspace"];

    /// <summary>What the documents table shows today, for a view saved without columns.</summary>
    public static readonly IReadOnlyList<string> DefaultColumns = ["title", "type", "size", "workspace", "status", "updatedAt"];

    [GeneratedRegex("^fields\\.[A-Za-z][A-Za-z0-9_]{0,63}$")]
    private static partial Regex FieldColumn();

    /// <summary>A trimmed name of 1-100 characters without control characters, or 400 naming <c>name</c>.</summary>
    public static string ValidName(string? name)
    {
        var trimmed = name?.Trim() ?? "";
        new Validator()
            .Require(trimmed.Length is >= 1 and <= NameMax, "name", $"name is 1 to {NameMax} characters.")
            .Require(!trimmed.Any(char.IsControl), "name", "name cannot contain control characters.")
            .ThrowIfInvalid();
        return trimmed;
    }

    /// <summary>The columns in the fixed set (or <c>fields.&lt;key&gt;</c>), each once, spelled as the set spells them; null → the defaults.</summary>
    public static string[] ValidColumns(IReadOnlyList<string?>? columns)
    {
        if (columns is null)
        {
            return [.. DefaultColumns];
        }
        var v = new Validator();
        var result = new List<string>();
        foreach (var column in columns)
        {
            var known = FixedColumns.FirstOrDefault(c => string.Equals(c, column, StringComparison.OrdinalIgnoreCase))
                ?? (column is not null && FieldColumn().IsMatch(column) ? column : null);
            v.Require(known is not null, "columns", $"{column ?? "null"} is not a column (known: {string.Join(", ", FixedColumns)} and fields.<field key>).");
            if (known is not null && !result.Contains(known, StringComparer.Ordinal))
            {
                result.Add(known);
            }
        }
        v.Require(result.Count is >= 1 and <= MaxColumns, "columns", $"A view shows 1 to {MaxColumns} columns.");
        v.ThrowIfInvalid();
        return [.. result];
    }

    /// <summary>
    /// The list parameters of a view's <c>query</c>, named as the query string names them, empty values left out. Unknown names
    /// are refused by <see cref="ListDocuments.FromParameters"/>; a cursor is a position in one listing, not a filter, so it
    /// is refused too. Whether the values are good is for the list handler to say (<see cref="SaveViewChecks"/>).
    /// </summary>
    public static Dictionary<string, string> NormalizeQuery(IReadOnlyDictionary<string, string?>? query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (query is null)
        {
            return result;
        }
        ListDocuments.FromParameters(query);
        new Validator().Require(!query.Keys.Any(k => string.Equals(k, "cursor", StringComparison.OrdinalIgnoreCase)), "cursor",
            "A view cannot hold a cursor: it is a position in one listing, not a filter.").ThrowIfInvalid();
        foreach (var (name, value) in query)
        {
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }
            var canonical = name.StartsWith("f.", StringComparison.Ordinal)
                ? name
                : ListDocuments.Names.First(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase));
            result[canonical] = value;
        }
        return result;
    }

    /// <summary>A view's stored query as a list query (the parameters were checked when it was saved).</summary>
    public static ListDocuments ToListQuery(IReadOnlyDictionary<string, string> query) =>
        ListDocuments.FromParameters(query.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value)));

    /// <summary>
    /// The query as the documents page's URL names its parameters (<c>workspace</c> and <c>folder</c> there; the rest as the API names them).
    /// </summary>
    /// <summary>The documents list showing the view: its filters, and <c>savedView</c> so the list shows its columns.</summary>
    public static string DocumentsUrl(ViewResponse view) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(DocumentsUrl(view.Query), "savedView", view.Id.ToString());

    public static string DocumentsUrl(IReadOnlyDictionary<string, string> query) =>
        Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString("/documents", query
            .Where(p => p.Key is not "limit")
            .Select(p => new KeyValuePair<string, string?>(p.Key switch { "workspaceId" => "workspace", "folderId" => "folder", _ => p.Key }, p.Value)));

    private const string Columns = """
        v.id, v.owner_id, v.owner_email, v.name, v.query::text AS query, v.columns, v.shared, v.created_at, v.updated_at,
        EXISTS (SELECT 1 FROM saved_view_pins p WHERE p.tenant_id = v.tenant_id AND p.view_id = v.id AND p.user_id = @user) AS pinned
        """;

    /// <summary>The views the caller can see: their own and the tenant's shared ones; pinned first, then by name.</summary>
    public static async Task<List<ViewResponse>> VisibleAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, bool pinnedOnly, CancellationToken ct) =>
        (await c.QueryAsync<Row>(new CommandDefinition($"""
            SELECT {Columns} FROM saved_views v
            WHERE v.tenant_id = @tenant AND (v.owner_id = @user OR v.shared)
            {(pinnedOnly ? "AND EXISTS (SELECT 1 FROM saved_view_pins p WHERE p.tenant_id = v.tenant_id AND p.view_id = v.id AND p.user_id = @user)" : "")}
            ORDER BY pinned DESC, lower(v.name), v.id
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct))).Select(r => r.ToResponse(me)).ToList();

    /// <summary>A view the caller can see (404 <c>view.not_found</c> otherwise, a private view of someone else included).</summary>
    public static async Task<ViewResponse> VisibleAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid id, bool forUpdate, CancellationToken ct)
    {
        var row = await c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition($"""
            SELECT {Columns} FROM saved_views v
            WHERE v.tenant_id = @tenant AND v.id = @id AND (v.owner_id = @user OR v.shared){(forUpdate ? " FOR UPDATE OF v" : "")}
            """, new { tenant = me.TenantId, user = me.UserId, id }, tx, cancellationToken: ct));
        return row?.ToResponse(me) ?? throw ApiProblem.NotFound("view");
    }

    /// <summary>Whether the owner already has another view of this name (names are unique per owner, in any letter case).</summary>
    public static Task<bool> NameTakenAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, string name, Guid? except, CancellationToken ct) =>
        c.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM saved_views WHERE tenant_id = @tenant AND owner_id = @user AND lower(name) = lower(@name) AND id IS DISTINCT FROM @except)
            """, new { tenant = me.TenantId, user = me.UserId, name, except }, tx, cancellationToken: ct));

    public static Task<int> CountOwnedAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, CancellationToken ct) =>
        c.ExecuteScalarAsync<int>(new CommandDefinition("SELECT count(*)::int FROM saved_views WHERE tenant_id = @tenant AND owner_id = @user",
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct));

    public static Task InsertAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid id, string name, Dictionary<string, string> query,
        string[] columns, bool shared, DateTime now, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO saved_views (tenant_id, id, owner_id, owner_email, name, query, columns, shared, created_at, updated_at)
            VALUES (@tenant, @id, @user, @email, @name, @query::jsonb, @columns, @shared, @now, @now)
            """, new { tenant = me.TenantId, id, user = me.UserId, email = me.Email, name, query = JsonSerializer.Serialize(query), columns, shared, now },
            tx, cancellationToken: ct));

    public static Task UpdateAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, string name, IReadOnlyDictionary<string, string> query,
        IReadOnlyList<string> columns, bool shared, DateTime now, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            UPDATE saved_views SET name = @name, query = @query::jsonb, columns = @columns, shared = @shared, updated_at = @now
            WHERE tenant_id = @tenant AND id = @id
            """, new { tenant, id, name, query = JsonSerializer.Serialize(query), columns = columns.ToArray(), shared, now }, tx, cancellationToken: ct));

    /// <summary>
    /// A view made private again is invisible to everyone else, so their pins of it go too (a pin is no way to keep seeing it).
    /// </summary>
    public static Task DropOthersPinsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, Guid owner, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("DELETE FROM saved_view_pins WHERE tenant_id = @tenant AND view_id = @id AND user_id <> @owner",
            new { tenant, id, owner }, tx, cancellationToken: ct));

    /// <summary>Pins are the caller's own: pinning or unpinning a shared view changes nothing for anyone else.</summary>
    public static Task SetPinAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid id, bool pinned, DateTime now, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition(pinned
            ? "INSERT INTO saved_view_pins (tenant_id, user_id, view_id, pinned_at) VALUES (@tenant, @user, @id, @now) ON CONFLICT DO NOTHING"
            : "DELETE FROM saved_view_pins WHERE tenant_id = @tenant AND user_id = @user AND view_id = @id",
            new { tenant = me.TenantId, user = me.UserId, id, now }, tx, cancellationToken: ct));

    public static Task DeleteAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("DELETE FROM saved_views WHERE tenant_id = @tenant AND id = @id", new { tenant, id }, tx, cancellationToken: ct));

    private sealed class Row
    {
        public Guid Id { get; init; }
        public Guid OwnerId { get; init; }
        public string OwnerEmail { get; init; } = "";
        public string Name { get; init; } = "";
        public string Query { get; init; } = "{}";
        public string[] Columns { get; init; } = [];
        public bool Shared { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }
        public bool Pinned { get; init; }

        public ViewResponse ToResponse(CurrentUser me)
        {
            var mine = OwnerId == me.UserId;
            return new ViewResponse(Id, Name, JsonSerializer.Deserialize<Dictionary<string, string>>(Query) ?? [], Columns, Shared, Pinned,
                new ViewOwner(OwnerId, OwnerEmail), DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc), DateTime.SpecifyKind(UpdatedAt, DateTimeKind.Utc),
                mine, mine, mine || (Shared && me.IsAdmin));
        }
    }
}
