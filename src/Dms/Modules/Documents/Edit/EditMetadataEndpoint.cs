using System.Text.Json;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Edit;

/// <summary>
/// <c>PATCH /api/v1/documents/{id}</c> with <c>If-Match</c>: the JSON body (only title, description, tags, typeId and fields,
/// each of the right type) and the ETag become an <see cref="EditMetadata"/> command.
/// </summary>
internal static class EditMetadataEndpoint
{
    private static readonly HashSet<string> Editable = ["title", "description", "tags", "typeId", "fields"];

    public static async Task<IResult> Handle(HttpContext http, string id, JsonElement body, [FromServices] EditMetadataHandler handler, CancellationToken ct)
    {
        var documentId = RouteIds.Parse(id);
        var expected = IfMatch.ExpectedVersion(http.Request.Headers.IfMatch.ToString());
        var (title, description, descriptionGiven, tags, typing) = Parse(body);
        var document = await handler.HandleAsync(new EditMetadata(documentId, expected, title, description, descriptionGiven, tags)
        {
            TypeGiven = typing.TypeGiven,
            TypeId = typing.TypeId,
            Fields = typing.Fields,
        }, CurrentUser.From(http.User), ct);
        http.Response.Headers.ETag = document.ETag();
        return Results.Ok(document);
    }

    private static (string? Title, string? Description, bool DescriptionGiven, string[]? Tags, Typing Typing) Parse(JsonElement body)
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

    private static (string? Title, string? Description, bool DescriptionGiven, string[]? Tags, Typing Typing) ParseFields(JsonElement body)
    {
        var v = new Validator();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ApiProblem.Validation("body", "The body must be a JSON object with title, description and/or tags.");
        }
        string? title = null, description = null;
        string[]? tags = null;
        var descriptionGiven = false;
        var typing = new Typing(false, null, null);
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
                case "typeId":
                    var isId = property.Value.ValueKind == JsonValueKind.Null
                               || (property.Value.ValueKind == JsonValueKind.String && Guid.TryParse(property.Value.GetString(), out _));
                    v.Require(isId, "typeId", "typeId must be a document type's id, or null for none.");
                    typing = typing with { TypeGiven = true, TypeId = isId && property.Value.ValueKind == JsonValueKind.String ? Guid.Parse(property.Value.GetString()!) : null };
                    break;
                case "fields":
                    v.Require(property.Value.ValueKind == JsonValueKind.Object, "fields", "fields must be an object of field key → value (null clears a value).");
                    typing = typing with { Fields = property.Value.ValueKind == JsonValueKind.Object ? property.Value.Clone() : null };
                    break;
            }
        }
        v.ThrowIfInvalid();
        return (title, description, descriptionGiven, tags, typing);
    }

    private sealed record Typing(bool TypeGiven, Guid? TypeId, JsonElement? Fields);
}
