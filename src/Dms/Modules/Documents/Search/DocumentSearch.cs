using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.Search;

/// <summary>
/// <c>GET /documents?q=</c>: candidates from the search index, joined back to <c>documents</c> under row-level security with
/// every list filter and the caller's workspace permissions, ordered by relevance (title matches first, then rank, then
/// recency) or by the sort asked for, with snippets for the page.
/// </summary>
internal sealed class DocumentSearch(IDocumentSearchIndex index, IOptions<DmsOptions> options)
{
    private SearchOptions Settings => options.Value.Search;

    public async Task<Page<DocumentResponse>> SearchAsync(NpgsqlConnection c, NpgsqlTransaction tx, DocumentFilter filter, string? cursor, CancellationToken ct)
    {
        var text = SearchText.Parse(filter.Query!);
        var sort = filter.Sort;
        var relevance = sort is null;
        var fingerprint = SearchCursor.Fingerprint(filter);
        var offset = relevance ? SearchCursor.Decode(cursor, fingerprint) : 0;
        var after = relevance ? null : DocumentCursor.Decode(cursor, sort!.Value);
        var firstPage = string.IsNullOrEmpty(cursor);
        var caller = filter.Caller!;

        var found = await index.FindAsync(c, tx, new SearchRequest(filter.Tenant, text, caller.IsAdmin, caller.UserId, filter.WorkspaceId, filter.FolderId,
            filter.Status, string.IsNullOrWhiteSpace(filter.Tag) ? null : Tags.Normalize(filter.Tag), Settings.Candidates, Settings.ExactCountUpTo,
            WantTotal: firstPage, SimilarTitles: firstPage ? Math.Min(filter.Limit, 20) : 0), ct);
        if (found.Items.Count == 0)
        {
            return new Page<DocumentResponse>([], null) { Total = found.Total };
        }

        var (where, p) = DocumentReadModel.Conditions(filter);
        where.Add(WorkspaceAccess.Readable("d.workspace_id"));
        p.AddDynamicParams(new
        {
            Ids = found.Items.Select(i => i.DocumentId).ToArray(),
            InTitle = found.Items.Select(i => i.InTitle).ToArray(),
            Rank = found.Items.Select(i => i.Rank).ToArray(),
            Similar = found.Items.Select(i => i.Similar).ToArray(),
            Offset = offset,
        });
        string order;
        if (relevance)
        {
            order = "f.is_similar, f.in_title DESC, f.rank DESC, d.created_at DESC, d.id DESC";
        }
        else
        {
            var direction = sort!.Value.Descending ? "DESC" : "ASC";
            order = $"{sort.Value.Column} {direction}, d.id {direction}";
            if (after is not null)
            {
                where.Add($"({sort.Value.Column}, d.id) {(sort.Value.Descending ? "<" : ">")} (@AfterKey, @AfterId)");
                p.Add("AfterKey", after.Key);
                p.Add("AfterId", after.Id);
            }
        }
        var rows = await DocumentReadModel.QueryAsync(c, tx, $"""
            JOIN unnest(@Ids::uuid[], @InTitle::boolean[], @Rank::float8[], @Similar::boolean[]) AS f(document_id, in_title, rank, is_similar) ON f.document_id = d.id
            WHERE {string.Join(" AND ", where)}
            ORDER BY {order} LIMIT @Limit OFFSET @Offset
            """, p, ct);
        var page = rows.Take(filter.Limit).ToList();
        var snippets = await SnippetsAsync(c, tx, filter.Tenant, text, page.Select(d => d.Id).ToArray(), ct);
        var byId = found.Items.ToDictionary(i => i.DocumentId);
        var items = page.Select(d =>
        {
            var hit = byId[d.Id];
            return d with { Match = new SearchMatch(snippets.GetValueOrDefault(d.Id), hit.InTitle, Math.Round(hit.Rank, 6), hit.Similar) };
        }).ToList();
        string? next = null;
        if (rows.Count > filter.Limit)
        {
            next = relevance ? SearchCursor.Encode(offset + filter.Limit, fingerprint) : DocumentCursor.After(sort!.Value, items[^1]).Encode();
        }
        return new Page<DocumentResponse>(items, next) { Total = found.Total };
    }

    /// <summary>Highlighted fragments of the current version's text, else of the description, for the documents of one page.</summary>
    private async Task<Dictionary<Guid, string>> SnippetsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, SearchText text, Guid[] ids,
        CancellationToken ct)
    {
        if (ids.Length == 0)
        {
            return [];
        }
        var rows = await c.QueryAsync<(Guid Id, string? Content, string? Description)>(new CommandDefinition($"""
            WITH q AS (SELECT {text.TsQuery(PostgresSearchIndex.Config)} AS query, {PostgresSearchIndex.Config} AS config)
            SELECT d.id,
                   CASE WHEN t.content IS NOT NULL THEN ts_headline(q.config, left(t.content, @Chars), q.query, @Options) END,
                   CASE WHEN d.description IS NOT NULL THEN ts_headline(q.config, d.description, q.query, @Options) END
            FROM q, documents d
            LEFT JOIN version_texts t ON t.tenant_id = d.tenant_id AND t.document_id = d.id AND t.version_number = d.current_version
            WHERE d.tenant_id = @Tenant AND d.id = ANY(@Ids)
            """, new { Tenant = tenant, Ids = ids, Chars = Settings.SnippetSourceChars, Options = Snippets.Options, SearchHead = text.Head, SearchPrefix = text.Prefix },
            tx, cancellationToken: ct));
        var result = new Dictionary<Guid, string>();
        foreach (var row in rows)
        {
            if ((Snippets.ToHtml(row.Content) ?? Snippets.ToHtml(row.Description)) is { } html)
            {
                result[row.Id] = html;
            }
        }
        return result;
    }
}

/// <summary>
/// The position in a relevance-ordered search: an offset into the ranked candidates, and a fingerprint of the search it
/// belongs to (another query or filter gets <c>request.cursor_sort_mismatch</c>).
/// </summary>
internal static class SearchCursor
{
    private const byte Format = 2;

    public static uint Fingerprint(DocumentFilter filter) =>
        BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join('\u001f', filter.Query, filter.WorkspaceId, filter.FolderId, filter.Tag, filter.Status, filter.Family))));

    public static string Encode(int offset, uint fingerprint)
    {
        var bytes = new byte[9];
        bytes[0] = Format;
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), offset);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(5), fingerprint);
        return WebEncoders.Base64UrlEncode(bytes);
    }

    public static int Decode(string? value, uint fingerprint)
    {
        if (string.IsNullOrEmpty(value))
        {
            return 0;
        }
        byte[] bytes;
        try
        {
            bytes = WebEncoders.Base64UrlDecode(value);
        }
        catch (FormatException)
        {
            throw Invalid();
        }
        if (bytes.Length != 9 || bytes[0] != Format)
        {
            throw Invalid();
        }
        var offset = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(1));
        if (offset is < 0 or > 10_000)
        {
            throw Invalid();
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(5)) != fingerprint)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.cursor_sort_mismatch",
                "The cursor belongs to another search.", "Start again without a cursor when the query, a filter or the sort changes.");
        }
        return offset;
    }

    private static ApiProblem Invalid() => new(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");
}
