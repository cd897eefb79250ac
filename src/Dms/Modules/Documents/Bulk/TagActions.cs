using System.Text.Json;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Webhooks;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents.Bulk;

/// <summary>
/// <c>addTags</c> / <c>removeTags</c> with <c>params {tags: [...]}</c>. The document row is locked and only its tags change
/// (title, description and the other tags stay as a concurrent editor left them); the row version moves on, so an editor
/// holding the old ETag gets 412 and re-reads instead of overwriting the new tags. One <c>document.updated</c> audit event and
/// webhook per changed document, as the edit handler records them; nothing when nothing changes (skipped).
/// </summary>
internal abstract class TagBulkAction(Db db, AuditTrail audit) : ITransactionalBulkAction
{
    public abstract string Name { get; }

    protected abstract bool Adding { get; }

    public void Validate(JsonElement parameters) => TagsOf(parameters);

    public Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct) =>
        db.InTenantAsync(requester.TenantId, (c, tx) => ApplyInAsync(c, tx, requester, documentId, parameters, ct), ct);

    public async Task<BulkItemResult> ApplyInAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser requester, Guid documentId, JsonElement parameters,
        CancellationToken ct)
    {
        var tags = TagsOf(parameters);
        await WorkspaceAccess.RequireForDocumentAsync(c, tx, requester, documentId, WorkspaceAction.Contribute, ct);
        var before = await c.QuerySingleOrDefaultAsync<(string Title, string? Description, string[] Tags)?>(new CommandDefinition($"""
            SELECT title, description, tags FROM documents
            WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()})
            FOR UPDATE
            """, new { tenant = requester.TenantId, documentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
        var after = Adding
            ? before.Tags.Concat(tags.Where(t => !before.Tags.Contains(t, StringComparer.Ordinal))).ToArray()
            : before.Tags.Where(t => !tags.Contains(t, StringComparer.Ordinal)).ToArray();
        if (after.Length == before.Tags.Length)
        {
            return BulkItemResult.Skipped(Adding ? (tags.Length == 1 ? "Already tagged" : "Already has these tags") : (tags.Length == 1 ? "Not tagged" : "Has none of these tags"));
        }
        if (after.Length > Tags.MaxCount)
        {
            throw ApiProblem.Validation("tags", $"The document would have more than {Tags.MaxCount} tags.");
        }
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE documents SET tags = @after, row_version = row_version + 1, updated_at = now(), updated_by = @user
            WHERE tenant_id = @tenant AND id = @documentId
            """, new { after, user = requester.UserId, tenant = requester.TenantId, documentId }, tx, cancellationToken: ct));
        await audit.RecordAsync(c, tx, "document.updated", "document", documentId, new
        {
            before = new { before.Title, before.Description, before.Tags },
            after = new { before.Title, before.Description, Tags = after },
            bulk = Name,
        }, ct: ct);
        await WebhookEvents.PublishAsync(c, tx, requester.TenantId, WebhookEventTypes.DocumentUpdated, documentId,
            new { before.Title, before.Description, Tags = after, updatedBy = requester.UserId }, ct);
        return BulkItemResult.Done;
    }

    private static string[] TagsOf(JsonElement parameters)
    {
        var v = new Validator();
        var ok = parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array
            && tags.GetArrayLength() > 0 && tags.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String);
        v.Require(ok, "params.tags", "params.tags must be a non-empty array of strings.");
        v.ThrowIfInvalid();
        var result = Tags.NormalizeAll(parameters.GetProperty("tags").EnumerateArray().Select(t => t.GetString()), v, "params.tags");
        v.Require(result.Length > 0, "params.tags", "params.tags must name at least one tag.");
        v.ThrowIfInvalid();
        return result;
    }
}

internal sealed class AddTagsBulkAction(Db db, AuditTrail audit) : TagBulkAction(db, audit)
{
    public override string Name => "addTags";

    protected override bool Adding => true;
}

internal sealed class RemoveTagsBulkAction(Db db, AuditTrail audit) : TagBulkAction(db, audit)
{
    public override string Name => "removeTags";

    protected override bool Adding => false;
}
