using Dapper;
using Dms.Platform.Outbox;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>Names one version of a document in a background message.</summary>
internal sealed record VersionMessage(Guid DocumentId, int Number);

/// <summary>
/// What follows every new version, in the transaction that adds it: its text row starts Pending, and the text extraction
/// and preview rendering messages are queued on the outbox's background lane (never blocking the upload).
/// </summary>
internal static class VersionProcessing
{
    public const string ExtractText = "document.extract_text";
    public const string RenderPreviews = "document.render_previews";

    public static async Task QueueAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, int number, CancellationToken ct)
    {
        await c.ExecuteAsync(new CommandDefinition(
            "INSERT INTO version_texts (tenant_id, document_id, version_number) VALUES (@tenant, @documentId, @number) ON CONFLICT DO NOTHING",
            new { tenant, documentId, number }, tx, cancellationToken: ct));
        await EnqueueAsync(c, tx, tenant, documentId, number, ct);
    }

    /// <summary>
    /// Only the messages: for a caller that inserts the Pending text row itself, in the batch that inserts the version
    /// (<see cref="NewDocuments"/>). The messages do not refer to the rows, so they may be queued before them.
    /// </summary>
    public static async Task EnqueueAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, int number, CancellationToken ct)
    {
        var message = new VersionMessage(documentId, number);
        await Outbox.EnqueueAsync(c, tx, tenant, ExtractText, message, ct);
        await Outbox.EnqueueAsync(c, tx, tenant, RenderPreviews, message, ct);
    }
}
