using System.Text.Json;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Modules.Documents.Types;

/// <summary>A document's type and values as they will be stored, checked (every write path comes through here).</summary>
internal sealed record TypedFields(Guid? TypeId, string Fields)
{
    public static readonly TypedFields None = new(null, "{}");
}

internal static class DocumentTyping
{
    /// <summary>The <c>fields</c> form field of an upload: a JSON object, or a 400 naming it.</summary>
    public static JsonElement? ParseFieldsText(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                return doc.RootElement.Clone();
            }
        }
        catch (JsonException)
        {
        }
        throw new ApiProblem(StatusCodes.Status400BadRequest, "document.invalid_field", "fields must be a JSON object of field key → value.")
        {
            Errors = new Dictionary<string, string[]> { ["fields"] = ["fields must be a JSON object of field key → value."] },
        };
    }

    public static Guid? ParseTypeId(string? text) => RouteIds.ParseOptional(text, "typeId");

    /// <summary>
    /// The type <paramref name="typeId"/> (400 <c>document.unknown_type</c> when the tenant has none such) and the values
    /// <see cref="FieldValues.CheckAsync"/> makes of <paramref name="current"/> and <paramref name="changes"/>. Values without a
    /// type: 400 <c>document.fields_without_type</c>.
    /// </summary>
    public static async Task<TypedFields> ResolveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid? typeId, JsonElement? current,
        JsonElement? changes, CancellationToken ct)
    {
        if (typeId is null)
        {
            if (changes is { ValueKind: JsonValueKind.Object } given && given.EnumerateObject().Any())
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "document.fields_without_type", "Field values need a document type (typeId).");
            }
            return TypedFields.None;
        }
        var type = await DocumentTypes.GetAsync(c, tx, tenant, typeId.Value, ct)
            ?? throw new ApiProblem(StatusCodes.Status400BadRequest, "document.unknown_type", "typeId names no document type of this tenant.")
            {
                Errors = new Dictionary<string, string[]> { ["typeId"] = ["typeId names no document type of this tenant."] },
            };
        return new TypedFields(type.Id, await FieldValues.CheckAsync(c, tx, tenant, type, current, changes, ct));
    }
}
