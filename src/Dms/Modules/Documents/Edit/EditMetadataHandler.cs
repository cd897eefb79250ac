using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Webhooks;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Edit;

/// <summary>
/// Change title, description and tags; a null field stays as it is (<paramref name="DescriptionGiven"/> tells a null
/// description to clear it). <paramref name="ExpectedVersion"/> is the row version the editor saw (null: any).
/// </summary>
internal sealed record EditMetadata(Guid DocumentId, int? ExpectedVersion, string? Title = null, string? Description = null, bool DescriptionGiven = false,
    IReadOnlyList<string>? Tags = null)
{
    /// <summary>Whether the edit sets the type (<see cref="TypeId"/>, null: none); changing it starts the values afresh.</summary>
    public bool TypeGiven { get; init; }

    public Guid? TypeId { get; init; }

    /// <summary>Field values to set (a merge: keys not named keep their value, a null value clears one).</summary>
    public System.Text.Json.JsonElement? Fields { get; init; }
}

/// <summary>
/// Content changes are approval requests; this changes metadata only. The update is conditional on the row version
/// the editor saw, so of two editors working from the same ETag exactly one wins and the other gets 412.
/// </summary>
internal sealed class EditMetadataHandler(Db db, AuditTrail audit) : IHandler<EditMetadata, DocumentResponse>
{
    public async Task<DocumentResponse> HandleAsync(EditMetadata command, CurrentUser me, CancellationToken ct)
    {
        var v = new Validator();
        var title = command.Title?.Trim();
        v.Require(title is null || DocumentFields.IsValidTitle(title), "title", $"title must be a string of 1-{DocumentFields.TitleMax} characters without control characters.");
        v.Require(DocumentFields.IsValidDescription(command.Description), "description", $"description is at most {DocumentFields.DescriptionMax} characters.");
        var tags = command.Tags is null ? null : Tags.NormalizeAll(command.Tags, v);
        v.ThrowIfInvalid();
        var documentId = command.DocumentId;

        var (updated, document) = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct);
            var before = await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
            Types.TypedFields? typed = null;
            if (before is not null && (command.TypeGiven || command.Fields is not null))
            {
                // The row is locked before its values are merged, so a concurrent edit of other fields is never overwritten.
                var locked = await c.ExecuteScalarAsync<int?>(new CommandDefinition(
                    "SELECT row_version FROM documents WHERE tenant_id = @tenant AND id = @documentId FOR UPDATE", new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
                var current = await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
                if (locked is not null && current is not null && (command.ExpectedVersion is null || command.ExpectedVersion == locked))
                {
                    var typeId = command.TypeGiven ? command.TypeId : current.TypeId;
                    var kept = typeId == current.TypeId ? current.Fields : (System.Text.Json.JsonElement?)null;
                    typed = await Types.DocumentTyping.ResolveAsync(c, tx, me.TenantId, typeId, kept, command.Fields, ct);
                }
            }
            var updated = await c.ExecuteAsync(new CommandDefinition($"""
                UPDATE documents SET
                  title = coalesce(@title, title),
                  description = CASE WHEN @descriptionGiven THEN @description ELSE description END,
                  tags = coalesce(@tags, tags),
                  type_id = CASE WHEN @typed THEN @typeId ELSE type_id END,
                  fields = CASE WHEN @typed THEN @fields::jsonb ELSE fields END,
                  row_version = row_version + 1, updated_at = now(), updated_by = @user
                WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()}) AND (@expected IS NULL OR row_version = @expected)
                """, new
            {
                title,
                description = command.Description,
                descriptionGiven = command.DescriptionGiven,
                tags,
                user = me.UserId,
                tenant = me.TenantId,
                documentId,
                expected = command.ExpectedVersion,
                typed = typed is not null,
                typeId = typed?.TypeId,
                fields = typed?.Fields,
            }, tx, cancellationToken: ct));
            var document = await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
            if (updated == 1)
            {
                await audit.RecordAsync(c, tx, "document.updated", "document", documentId, new
                {
                    before = new { before!.Title, before.Description, before.Tags, before.TypeId, before.Fields },
                    after = new { document!.Title, document.Description, document.Tags, document.TypeId, document.Fields },
                }, ct: ct);
                await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.DocumentUpdated, documentId,
                    new { document.Title, document.Description, document.Tags, document.TypeId, document.Fields, updatedBy = me.UserId }, ct);
            }
            return (updated, document);
        }, ct);

        if (document is null)
        {
            throw ApiProblem.NotFound("document");
        }
        if (updated == 0)
        {
            throw new ApiProblem(StatusCodes.Status412PreconditionFailed, "document.precondition_failed",
                "The document was changed by someone else since you read it: fetch it again and reapply your edit.",
                $"Current ETag is {document.ETag()}.");
        }
        return document;
    }
}

/// <summary>Reads the row version an editor saw from the ETag they send back (<c>If-Match</c>, or the UI form's copy).</summary>
internal static class IfMatch
{
    /// <summary>The row version from a strong <c>If-Match</c>; <c>*</c> (any current version) gives null.</summary>
    public static int? ExpectedVersion(string ifMatch)
    {
        if (string.IsNullOrWhiteSpace(ifMatch))
        {
            throw new ApiProblem(StatusCodes.Status428PreconditionRequired, "document.precondition_required",
                "Send If-Match with the document's ETag so a concurrent edit is not overwritten.");
        }
        if (ifMatch.Trim() == "*")
        {
            return null;
        }
        var tag = ifMatch.Trim();
        return tag.Length > 2 && tag[0] == '"' && tag[^1] == '"' && int.TryParse(tag[1..^1], out var version) && version > 0
            ? version
            // A weak or foreign validator can never match a strong comparison (RFC 9110, 13.1.1).
            : throw new ApiProblem(StatusCodes.Status412PreconditionFailed, "document.precondition_failed",
                "If-Match does not match the document's current ETag.");
    }
}
