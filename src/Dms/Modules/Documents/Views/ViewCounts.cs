using Dapper;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Views;

/// <summary>A capped count: <see cref="Count"/> is exact unless <see cref="Capped"/> (then "at least Count").</summary>
internal sealed record CappedCount(long Count, bool Capped);

/// <summary>
/// Counts the documents a view's query lists for the caller, never more than <see cref="SavedViewOptions.CountCap"/> (then capped):
/// a count on the home page must not cost what listing a million documents would. Three ways, each the list's own conditions:
/// <list type="bullet">
/// <item>plain filters: <see cref="DocumentReadModel.Conditions"/> plus, for a member, the readable-workspaces restriction the
/// list starts from, under <c>LIMIT cap+1</c> (<see cref="CountQuery"/>; QueryPlanTests-style EXPLAIN in docs/saved-views.md);</item>
/// <item>a search (<c>q</c>): the search's own total (<see cref="Page{T}.Total"/>), exact up to its own threshold;</item>
/// <item>filters this class cannot turn into conditions itself (<c>typeId</c>, <c>f.*</c>, owned by the list handler): the list
/// handler's own pages, 200 at a time, until the cap.</item>
/// </list>
/// </summary>
internal sealed class ViewCounter(Db db, ListDocumentsHandler list, IOptions<DmsOptions> options)
{
    private const int PageSize = 200;

    public int Cap => Math.Max(1, options.Value.Views.CountCap);

    public async Task<CappedCount> CountAsync(ListDocuments query, CurrentUser me, CancellationToken ct)
    {
        var cap = Cap;
        query = query with { Cursor = null, Limit = null };
        if (!string.IsNullOrWhiteSpace(query.Q))
        {
            var found = await list.HandleAsync(query with { Limit = 1 }, me, ct);
            var total = found.Total ?? new ResultCount(found.Items.Count, true);
            return new CappedCount(Math.Min(total.Value, cap), !total.Exact || total.Value > cap);
        }
        if (query.TypeId is not null || query.FieldFilters is not null)
        {
            return await CountByPagingAsync(query, me, cap, ct);
        }
        var (sql, p) = CountQuery(Filter(query, me), cap);
        var n = await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteScalarAsync<long>(new CommandDefinition(sql, p, tx, cancellationToken: ct)), ct);
        return new CappedCount(Math.Min(n, cap), n > cap);
    }

    /// <summary>Counts by walking the list handler's pages (exactly what the list shows), stopping past the cap.</summary>
    internal async Task<CappedCount> CountByPagingAsync(ListDocuments query, CurrentUser me, int cap, CancellationToken ct)
    {
        long n = 0;
        string? cursor = null;
        do
        {
            var page = await list.HandleAsync(query with { Limit = PageSize, Cursor = cursor }, me, ct);
            n += page.Items.Count;
            cursor = page.NextCursor;
        }
        while (cursor is not null && n <= cap);
        return new CappedCount(Math.Min(n, cap), n > cap);
    }

    /// <summary>
    /// The list's own filter for the query (the list handler's reading, so a count can never disagree with the list it counts),
    /// without a search text (counted through the search) and without paging.
    /// </summary>
    internal static DocumentFilter Filter(ListDocuments query, CurrentUser me) =>
        Browse.ListDocumentsHandler.ToFilter(query with { Q = null, Cursor = null, Sort = null, Order = null }, me).Filter;

    /// <summary>
    /// <c>count(*)</c> over at most <paramref name="cap"/>+1 rows matching the list's conditions; a member counts only documents in
    /// workspaces they may read (the same restriction the list starts from), an admin every live document.
    /// </summary>
    internal static (string Sql, DynamicParameters Parameters) CountQuery(DocumentFilter filter, int cap)
    {
        var (where, p) = DocumentReadModel.Conditions(filter);
        p.Add("CountLimit", cap + 1);
        // In the list's default order, so the planner walks the list's own index and stops at cap+1 rows; unordered, it
        // prefers reading the whole tenant (EXPLAIN on 200,000 documents: a sequential scan, tens of milliseconds).
        var order = $"ORDER BY {DocumentSort.Default.Column} DESC, d.id DESC";
        var sql = filter.Caller is { IsAdmin: false }
            // A member's count starts from the workspaces they may read, one capped index walk each, as the list does (issue 12):
            // `workspace_id IN (…)` instead reads every document of the tenant to keep a few.
            ? $"SELECT count(*) FROM (SELECT 1 FROM ({WorkspaceAccess.ReadableWorkspaces}) r CROSS JOIN LATERAL (" +
              $"SELECT 1 FROM documents d WHERE {string.Join(" AND ", where)} AND d.workspace_id = r.workspace_id {order} LIMIT @CountLimit) w " +
              "LIMIT @CountLimit) matching"
            : $"SELECT count(*) FROM (SELECT 1 FROM documents d WHERE {string.Join(" AND ", where)} {order} LIMIT @CountLimit) matching";
        return (sql, p);
    }
}
