using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Modules.Documents.Search;

/// <summary>
/// A search over one tenant's documents, narrowed by the list's filters that the index knows. <see cref="Workspaces"/> null:
/// every workspace (admins); otherwise only these (a member's readable ones, or the one asked for).
/// </summary>
internal sealed record SearchRequest(Guid Tenant, SearchText Text, bool IsAdmin, Guid User, Guid? WorkspaceId, Guid? FolderId, DocumentStatus? Status,
    string? Tag, int Candidates, int ExactCountUpTo, bool WantTotal, int SimilarTitles);

/// <summary>One candidate: <see cref="Similar"/> when only its title is like the words typed (no full-text match).</summary>
internal sealed record SearchCandidate(Guid DocumentId, bool InTitle, double Rank, bool Similar);

internal sealed record SearchCandidates(IReadOnlyList<SearchCandidate> Items, ResultCount? Total);

/// <summary>
/// The seam between listing and the search engine: it returns candidate document ids, which the list joins back to
/// <c>documents</c> under row-level security and the caller's permissions. PostgreSQL serves it today (ADR 0016); a
/// dedicated engine would implement the same contract.
/// </summary>
internal interface IDocumentSearchIndex
{
    Task<SearchCandidates> FindAsync(NpgsqlConnection c, NpgsqlTransaction tx, SearchRequest request, CancellationToken ct);
}

/// <summary>
/// PostgreSQL full-text search through the guarded <c>document_search</c> table (migration 0012): the runtime role can
/// only call its definer functions, which read the tenant from the transaction's setting.
/// </summary>
internal sealed class PostgresSearchIndex : IDocumentSearchIndex
{
    /// <summary>The tenant's text search configuration (SQL; reads <c>@Tenant</c>).</summary>
    public const string Config = "(SELECT coalesce((SELECT config FROM search_settings WHERE tenant_id = @Tenant), 'dms_simple'::regconfig))";

    // The workspaces to search: null for an admin without a workspace filter, else what the caller may read (and asked for).
    private const string Workspaces = """
        CASE
            WHEN @IsAdmin AND @WorkspaceId::uuid IS NULL THEN NULL::uuid[]
            WHEN @IsAdmin THEN ARRAY[@WorkspaceId::uuid]
            ELSE ARRAY(SELECT m.workspace_id FROM workspace_members m
                       WHERE m.tenant_id = @Tenant AND m.user_id = @User AND (@WorkspaceId::uuid IS NULL OR m.workspace_id = @WorkspaceId::uuid)) END
        """;

    private const string Filters = $"{Workspaces}, @FolderId::uuid, @Status::text, @Tag::text";

    public async Task<SearchCandidates> FindAsync(NpgsqlConnection c, NpgsqlTransaction tx, SearchRequest request, CancellationToken ct)
    {
        var query = request.Text.TsQuery(Config);
        var p = new
        {
            request.Tenant,
            request.IsAdmin,
            request.User,
            request.WorkspaceId,
            request.FolderId,
            Status = request.Status?.Db(),
            request.Tag,
            request.Candidates,
            request.ExactCountUpTo,
            SearchHead = request.Text.Head,
            SearchPrefix = request.Text.Prefix,
        };
        var sql = $"""
            SELECT f.document_id, f.in_title, f.rank::float8 AS rank, false AS "similar"
            FROM document_search_find({query}, {Filters}, @Candidates) f;
            """;
        if (request.WantTotal)
        {
            sql += $"""
                SELECT n.total, n.exact FROM document_search_count({query}, {Filters}, @ExactCountUpTo) n;
                """;
        }
        List<SearchCandidate> items;
        ResultCount? total = null;
        await using (var results = await c.QueryMultipleAsync(new CommandDefinition(sql, p, tx, cancellationToken: ct)))
        {
            items = (await results.ReadAsync<SearchCandidate>()).ToList();
            if (request.WantTotal)
            {
                var (value, exact) = await results.ReadSingleAsync<(long, bool)>();
                total = new ResultCount(value, exact);
            }
        }

        // Typo tolerance: when the words found nothing, titles like them by trigram similarity are offered instead.
        if (request.SimilarTitles > 0 && request.Text.Plain is { } plain && items.Count == 0)
        {
            var similar = await c.QueryAsync<(Guid Id, double Similarity)>(new CommandDefinition($"""
                SELECT s.document_id, s.similarity::float8 FROM document_search_similar(@Plain, {Filters}, @SimilarTitles) s
                """, new { p.Tenant, p.IsAdmin, p.User, p.WorkspaceId, p.FolderId, p.Status, p.Tag, Plain = plain, request.SimilarTitles }, tx, cancellationToken: ct));
            var known = items.Select(i => i.DocumentId).ToHashSet();
            var extra = similar.Where(s => known.Add(s.Id)).Select(s => new SearchCandidate(s.Id, false, s.Similarity, true)).ToList();
            items.AddRange(extra);
            total = new ResultCount(extra.Count, true);
        }
        return new SearchCandidates(items, total);
    }
}
