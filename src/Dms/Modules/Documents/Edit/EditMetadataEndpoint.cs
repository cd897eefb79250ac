using Dms.Modules.Documents;
using System.Text.Json;
using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Edit;

/// <summary>
/// <c>PATCH /api/v1/documents/{id}</c> with <c>If-Match</c>: changes title, description and tags only
/// (content changes are approval requests). The update is conditional on the row version the client saw,
/// so of two editors working from the same ETag exactly one wins and the other gets 412.
/// </summary>
internal static class EditMetadataEndpoint
{
    private static readonly HashSet<string> Editable = ["title", "description", "tags"];

    public static async Task<IResult> Handle(HttpContext http, string id, JsonElement body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        var expected = ExpectedVersion(http.Request.Headers.IfMatch.ToString());
        var (title, description, descriptionGiven, tags) = Parse(body);

        var outcome = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct);
            var before = await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
            var updated = await c.ExecuteAsync(new CommandDefinition("""
                UPDATE documents SET
                  title = coalesce(@title, title),
                  description = CASE WHEN @descriptionGiven THEN @description ELSE description END,
                  tags = coalesce(@tags, tags),
                  row_version = row_version + 1, updated_at = now(), updated_by = @user
                WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ('Deleted', 'Purged') AND (@expected IS NULL OR row_version = @expected)
                """, new { title, description, descriptionGiven, tags, user = me.UserId, tenant = me.TenantId, documentId, expected }, tx, cancellationToken: ct));
            var document = await DocumentReadModel.GetAsync(c, tx, me.TenantId, documentId, ct);
            if (updated == 1)
            {
                await audit.RecordAsync(c, tx, "document.updated", "document", documentId, new
                {
                    before = new { before!.Title, before.Description, before.Tags },
                    after = new { document!.Title, document.Description, document.Tags },
                }, ct: ct);
            }
            return (updated, document);
        }, ct);

        if (outcome.document is null)
        {
            throw ApiProblem.NotFound("document");
        }
        if (outcome.updated == 0)
        {
            throw new ApiProblem(StatusCodes.Status412PreconditionFailed, "document.precondition_failed",
                "The document was changed by someone else since you read it: fetch it again and reapply your edit.",
                $"Current ETag is {outcome.document.ETag()}.");
        }
        http.Response.Headers.ETag = outcome.document.ETag();
        return Results.Ok(outcome.document);
    }

    /// <summary>The row version from a strong <c>If-Match</c>; <c>*</c> (any current version) gives null.</summary>
    private static int? ExpectedVersion(string ifMatch)
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

    private static (string? Title, string? Description, bool DescriptionGiven, string[]? Tags) Parse(JsonElement body)
    {
        try
        {
            return ParseFields(body);
        }
        catch (InvalidOperationException)
        {
            // JsonElement.GetString throws on escaped lone surrogates, which no text column can hold.
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_text", "The request contains characters that cannot be stored (such as an unpaired surrogate).");
        }
    }

    private static (string? Title, string? Description, bool DescriptionGiven, string[]? Tags) ParseFields(JsonElement body)
    {
        var v = new Validator();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ApiProblem.Validation("body", "The body must be a JSON object with title, description and/or tags.");
        }
        string? title = null, description = null;
        string[]? tags = null;
        var descriptionGiven = false;
        foreach (var property in body.EnumerateObject())
        {
            v.Require(Editable.Contains(property.Name), property.Name, $"'{property.Name}' cannot be edited here; editable: title, description, tags.");
            switch (property.Name)
            {
                case "title":
                    title = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()!.Trim() : null;
                    v.Require(DocumentFields.IsValidTitle(title), "title", $"title must be a string of 1-{DocumentFields.TitleMax} characters without control characters.");
                    break;
                case "description":
                    descriptionGiven = true;
                    v.Require(property.Value.ValueKind is JsonValueKind.String or JsonValueKind.Null, "description", "description must be a string or null.");
                    description = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
                    v.Require(DocumentFields.IsValidDescription(description), "description", $"description is at most {DocumentFields.DescriptionMax} characters.");
                    break;
                case "tags":
                    var isStringArray = property.Value.ValueKind == JsonValueKind.Array && property.Value.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String);
                    v.Require(isStringArray, "tags", "tags must be an array of strings.");
                    tags = isStringArray ? Tags.NormalizeAll(property.Value.EnumerateArray().Select(t => t.GetString()!), v) : null;
                    break;
            }
        }
        v.ThrowIfInvalid();
        return (title, description, descriptionGiven, tags);
    }
}
