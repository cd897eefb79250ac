using Dapper;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Modules.Documents.Comments;

/// <summary>The comment count of each document on a list page: one grouped query for the page, never one per row.</summary>
internal static class CommentCounts
{
    internal const string Sql = """
        SELECT document_id, count(*)::int FROM document_comments
        WHERE tenant_id = @tenant AND document_id = ANY(@ids)
        GROUP BY document_id
        """;

    public static async Task<Page<DocumentResponse>> FillAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Page<DocumentResponse> page,
        CancellationToken ct)
    {
        if (page.Items.Count == 0)
        {
            return page;
        }
        var counts = (await c.QueryAsync<(Guid DocumentId, int Count)>(new CommandDefinition(Sql,
            new { tenant, ids = page.Items.Select(d => d.Id).ToArray() }, tx, cancellationToken: ct))).ToDictionary(r => r.DocumentId, r => r.Count);
        return page with { Items = [.. page.Items.Select(d => d with { CommentCount = counts.GetValueOrDefault(d.Id) })] };
    }
}
