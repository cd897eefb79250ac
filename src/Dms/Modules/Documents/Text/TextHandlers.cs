using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Documents.Text;

/// <summary>A version's text state, as <c>GET /documents/{id}/text</c> answers it.</summary>
internal sealed record VersionTextResponse(int Version, TextStatus Status, TextMethod? Method, int Characters, bool Truncated, string? Reason, DateTime? ExtractedAt);

/// <summary>Which version's text: the current one when <paramref name="Version"/> is null.</summary>
internal sealed record GetVersionText(Guid DocumentId, int? Version);

internal sealed record GetVersionTextContent(Guid DocumentId, int? Version);

/// <summary>Authorised like reading the document: its workspace must be readable and it must not be deleted.</summary>
internal sealed class GetVersionTextHandler(Db db) : IHandler<GetVersionText, VersionTextResponse>
{
    public async Task<VersionTextResponse> HandleAsync(GetVersionText query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var number = await VersionTexts.ResolveAsync(c, tx, me, query.DocumentId, query.Version, ct);
            return await c.QuerySingleOrDefaultAsync<VersionTextResponse>(new CommandDefinition("""
                SELECT version_number AS version, status, method, coalesce(char_length(content), 0) AS characters, truncated, error AS reason, extracted_at
                FROM version_texts WHERE tenant_id = @tenant AND document_id = @DocumentId AND version_number = @number
                """, new { tenant = me.TenantId, query.DocumentId, number }, tx, cancellationToken: ct))
                // A version from before text extraction existed has no row: nothing was queued for it.
                ?? new VersionTextResponse(number, TextStatus.Unsupported, null, 0, false, "This version was stored before text extraction existed.", null);
        }, ct);
}

internal sealed class GetVersionTextContentHandler(Db db) : IHandler<GetVersionTextContent, string>
{
    public async Task<string> HandleAsync(GetVersionTextContent query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var number = await VersionTexts.ResolveAsync(c, tx, me, query.DocumentId, query.Version, ct);
            // The content is capped when it is written (Dms:Extraction:MaxChars), so it is read whole.
            return await c.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
                "SELECT content FROM version_texts WHERE tenant_id = @tenant AND document_id = @DocumentId AND version_number = @number",
                new { tenant = me.TenantId, query.DocumentId, number }, tx, cancellationToken: ct)) ?? "";
        }, ct);
}

internal static class VersionTexts
{
    /// <summary>The version number asked for (the current one by default) of a readable, not deleted document.</summary>
    public static async Task<int> ResolveAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, int? version, CancellationToken ct)
    {
        if (version is <= 0)
        {
            throw ApiProblem.Validation("version", "version must be a positive number.");
        }
        await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Read, ct);
        var current = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(
            $"SELECT current_version FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()})",
            new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
        var number = version ?? current;
        if (number > current)
        {
            throw ApiProblem.NotFound("version");
        }
        return number;
    }
}
