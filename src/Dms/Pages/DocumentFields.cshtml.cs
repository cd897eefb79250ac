using System.Globalization;
using System.Text.Json;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Edit;
using Dms.Modules.Documents.Types;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>
/// A document's type and field values: choose the type (shown again with that type's inputs), fill in the values by their
/// labels, save with the ETag the editor saw (the API's PATCH handler, so the same checks and the same 412).
/// </summary>
internal sealed class DocumentFieldsModel(GetDocumentHandler documents, ListDocumentTypesHandler types, Dms.Platform.Database.Db db) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    /// <summary>The type whose inputs are shown: the chosen one (<c>?typeId=</c>), else the document's.</summary>
    [BindProperty(SupportsGet = true)]
    public string? TypeId { get; set; }

    [BindProperty]
    public string? ETag { get; set; }

    public DocumentResponse? Document { get; private set; }
    public List<DocumentType> Types { get; private set; } = [];
    public DocumentType? Shown { get; private set; }

    /// <summary>The people a "user" field may name, by e-mail (only loaded when the shown type has one).</summary>
    public IReadOnlyList<(Guid Id, string Email)> People { get; private set; } = [];

    /// <summary>The value an input starts with: what was posted, else the document's value (only of its own type), else the field's default.</summary>
    public string Value(FieldDefinition field)
    {
        if (Request.HasFormContentType && Request.Form.TryGetValue($"f.{field.Key}", out var posted))
        {
            return posted.ToString();
        }
        JsonElement? value = Shown?.Id == Document?.TypeId && Document!.Fields.TryGetProperty(field.Key, out var v) ? v : field.Default;
        return value is not { } e ? ""
            : e.ValueKind == JsonValueKind.Array ? string.Join(",", e.EnumerateArray().Select(x => x.GetString()))
            : e.ValueKind == JsonValueKind.String ? e.GetString()!
            : e.ValueKind == JsonValueKind.Number ? e.GetDecimal().ToString(CultureInfo.InvariantCulture)
            : e.GetRawText();
    }

    public bool Chosen(FieldDefinition field, string option) =>
        Value(field).Split(',').Contains(option, StringComparer.Ordinal)
        || (Request.HasFormContentType && Request.Form[$"f.{field.Key}"].Contains(option));

    private async Task LoadAsync(CancellationToken ct)
    {
        Document = await documents.HandleAsync(new GetDocument(RouteIds.Parse(Id)), Me, ct);
        Types = [.. await types.HandleAsync(new ListDocumentTypes(), Me, ct)];
        var chosen = TypeId ?? Document.TypeId?.ToString();
        Shown = Types.FirstOrDefault(t => t.Id.ToString() == chosen);
        if (Shown?.Fields.Any(f => f.Kind == FieldKind.User) == true)
        {
            People = await UiLookups.PeopleAsync(db, Me, ct);
        }
        ETag ??= Document.ETag();
    }

    public Task<IActionResult> OnGetAsync(CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(NotFound()));

    public Task<IActionResult> OnPostAsync([FromServices] EditMetadataHandler edit, CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(ct);
        var typeId = Shown?.Id;
        // Every field of the shown type is sent: an empty input clears its value (then a required one is refused, by name).
        var values = new Dictionary<string, object?>();
        foreach (var field in Shown?.Fields ?? [])
        {
            var posted = Request.Form[$"f.{field.Key}"];
            values[field.Key] = field.Kind switch
            {
                FieldKind.Multiselect => posted.Count == 0 ? null : posted.Select(p => p ?? "").ToArray(),
                FieldKind.Boolean => posted.Count > 0 && posted[^1] == "true",
                _ => string.IsNullOrWhiteSpace(posted.ToString()) ? null : posted.ToString().Trim(),
            };
        }
        var expected = IfMatch.ExpectedVersion(string.IsNullOrEmpty(ETag) ? "\"0\"" : ETag);
        await edit.HandleAsync(new EditMetadata(RouteIds.Parse(Id), expected)
        {
            TypeGiven = true,
            TypeId = typeId,
            Fields = typeId is null ? null : JsonSerializer.SerializeToElement(values),
        }, Me, ct);
        return Done("Fields saved.", $"/documents/{Id}");
    }, async () =>
    {
        if (Response.StatusCode == StatusCodes.Status412PreconditionFailed)
        {
            Error = "Someone else changed this document while you were editing. Your changes were not saved: the form now shows the current values.";
            ETag = null;
            ModelState.Clear();
        }
        await LoadAsync(ct);
        return Page();
    });
}
