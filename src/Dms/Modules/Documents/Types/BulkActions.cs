using System.Text.Json;
using Dms.Modules.Documents.Bulk;
using Dms.Modules.Documents.Edit;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Types;

/// <summary>
/// Both actions go through <see cref="EditMetadataHandler"/> with the row version just read, as a person editing would: a
/// concurrent edit in between makes it 412, and the step reads again and retries once, so that edit is kept, not overwritten.
/// </summary>
internal static class BulkEdits
{
    public static async Task<BulkItemResult> ApplyAsync(Browse.GetDocumentHandler get, EditMetadataHandler edit, CurrentUser requester, Guid documentId,
        Func<DocumentResponse, (EditMetadata? Edit, string? SkipReason)> plan, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var current = await get.HandleAsync(new Browse.GetDocument(documentId), requester, ct);
            var (command, skip) = plan(current);
            if (command is null)
            {
                return BulkItemResult.Skipped(skip ?? "Nothing to change.");
            }
            try
            {
                await edit.HandleAsync(command with { DocumentId = documentId, ExpectedVersion = current.RowVersion }, requester, ct);
                return BulkItemResult.Done;
            }
            catch (ApiProblem p) when (p.Status == StatusCodes.Status412PreconditionFailed && attempt == 0)
            {
            }
        }
    }

    public static ApiProblem Invalid(string field, string message) =>
        new(StatusCodes.Status400BadRequest, "bulk.invalid_params", message) { Errors = new Dictionary<string, string[]> { [field] = [message] } };
}

/// <summary><c>setField</c> with params <c>{key, value}</c>: sets (or, with a null value, clears) one field of each document's type.</summary>
internal sealed class SetFieldAction(Browse.GetDocumentHandler get, EditMetadataHandler edit) : IBulkAction
{
    public string Name => "setField";

    public void Validate(JsonElement parameters)
    {
        if (parameters.ValueKind != JsonValueKind.Object || !parameters.TryGetProperty("key", out var key) || key.ValueKind != JsonValueKind.String
            || !FieldDefinitions.KeyFormat().IsMatch(key.GetString()!))
        {
            throw BulkEdits.Invalid("params.key", "setField needs params.key, a field key.");
        }
        if (!parameters.TryGetProperty("value", out _))
        {
            throw BulkEdits.Invalid("params.value", "setField needs params.value (null clears the field).");
        }
    }

    public Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct)
    {
        var key = parameters.GetProperty("key").GetString()!;
        var value = parameters.GetProperty("value");
        var change = JsonSerializer.SerializeToElement(new Dictionary<string, JsonElement> { [key] = value });
        return BulkEdits.ApplyAsync(get, edit, requester, documentId, current =>
        {
            if (current.TypeId is null)
            {
                return (null, "The document has no type.");
            }
            if (current.Fields.TryGetProperty(key, out var existing) && existing.GetRawText() == value.GetRawText())
            {
                return (null, "The field already has this value.");
            }
            return (new EditMetadata(documentId, null) { Fields = change }, null);
        }, ct);
    }
}

/// <summary><c>setType</c> with params <c>{typeId, fields?}</c>: gives each document the type (its values start afresh, defaults applied).</summary>
internal sealed class SetTypeAction(Browse.GetDocumentHandler get, EditMetadataHandler edit) : IBulkAction
{
    public string Name => "setType";

    public void Validate(JsonElement parameters)
    {
        if (parameters.ValueKind != JsonValueKind.Object || !parameters.TryGetProperty("typeId", out var typeId)
            || !(typeId.ValueKind == JsonValueKind.Null || (typeId.ValueKind == JsonValueKind.String && Guid.TryParse(typeId.GetString(), out _))))
        {
            throw BulkEdits.Invalid("params.typeId", "setType needs params.typeId, a document type's id (or null for none).");
        }
        if (parameters.TryGetProperty("fields", out var fields) && fields.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
        {
            throw BulkEdits.Invalid("params.fields", "params.fields must be an object of field key → value.");
        }
    }

    public Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct)
    {
        var t = parameters.GetProperty("typeId");
        Guid? typeId = t.ValueKind == JsonValueKind.String ? Guid.Parse(t.GetString()!) : null;
        JsonElement? fields = parameters.TryGetProperty("fields", out var f) && f.ValueKind == JsonValueKind.Object ? f : null;
        return BulkEdits.ApplyAsync(get, edit, requester, documentId, current =>
            current.TypeId == typeId && fields is null
                ? (null, typeId is null ? "The document has no type already." : "The document already has this type.")
                : (new EditMetadata(documentId, null) { TypeGiven = current.TypeId != typeId, TypeId = typeId, Fields = fields }, null), ct);
    }
}
