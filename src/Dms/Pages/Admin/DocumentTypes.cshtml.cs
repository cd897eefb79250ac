using System.Text.Json;
using Dms.Modules.Documents.Types;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>One row of the fields editor, as the form posts it (options comma-separated; an empty key is a blank row).</summary>
public sealed class FieldInput
{
    public string? Key { get; set; }
    public string? Label { get; set; }
    public string? Kind { get; set; }
    public bool Required { get; set; }
    public string? Options { get; set; }
    public string? Default { get; set; }
    public bool Remove { get; set; }
    public bool Existing { get; set; }
}

/// <summary>Document types (create, rename, delete) and their fields (one form: every row, plus a blank one to add a field).</summary>
internal sealed class DocumentTypesModel(ListDocumentTypesHandler types) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Id { get; set; }

    [BindProperty]
    public List<FieldInput> Fields { get; set; } = [];

    public List<DocumentType> Types { get; private set; } = [];
    public DocumentType? Current { get; private set; }

    public static IEnumerable<(string Value, string Label)> Kinds => Enum.GetValues<FieldKind>().Select(k => (FieldKinds.Name(k), FieldKinds.Label(k)));

    /// <summary>The editor's rows: each field of the type, then a blank one for a new field.</summary>
    public static List<FieldInput> Rows(DocumentType type) =>
    [
        .. type.Fields.Select(f => new FieldInput
        {
            Label = f.Label,
            Key = f.Key,
            Kind = f.KindName,
            Required = f.Required,
            Options = f.Options is null ? "" : string.Join(", ", f.Options),
            Default = f.Default is not { } d ? ""
                : d.ValueKind == JsonValueKind.Array ? string.Join(", ", d.EnumerateArray().Select(x => x.GetString()))
                : d.ValueKind == JsonValueKind.String ? d.GetString() : d.GetRawText(),
            Existing = true,
        }),
        new FieldInput { Kind = "text" },
    ];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Types = [.. await types.HandleAsync(new ListDocumentTypes(), Me, ct)];
        Current = Types.FirstOrDefault(t => t.Id.ToString() == Id) ?? Types.FirstOrDefault();
        return Page();
    }

    public Task<IActionResult> OnPostCreateAsync(string? name, [FromServices] CreateDocumentTypeHandler create, CancellationToken ct) => Attempt(async () =>
    {
        var created = await create.HandleAsync(new CreateDocumentType(JsonSerializer.SerializeToElement(name ?? ""), null), Me, ct);
        return Done($"Document type {created.Name} created: add its fields.", $"/admin/document-types?id={created.Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostRenameAsync(string? name, [FromServices] UpdateDocumentTypeHandler update, CancellationToken ct) => Attempt(async () =>
    {
        var renamed = await update.HandleAsync(new UpdateDocumentType(RouteIds.Parse(Id ?? ""), JsonSerializer.SerializeToElement(name ?? ""), null), Me, ct);
        return Done($"Document type renamed to {renamed.Name}.", $"/admin/document-types?id={renamed.Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostDeleteAsync([FromServices] DeleteDocumentTypeHandler delete, CancellationToken ct) => Attempt(async () =>
    {
        await delete.HandleAsync(new DeleteDocumentType(RouteIds.Parse(Id ?? "")), Me, ct);
        return Done("Document type deleted.", "/admin/document-types");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostFieldsAsync([FromServices] UpdateDocumentTypeHandler update, CancellationToken ct) => Attempt(async () =>
    {
        var rows = Fields.Where(f => !f.Remove && !string.IsNullOrWhiteSpace(f.Key)).Select(f =>
        {
            var options = string.IsNullOrWhiteSpace(f.Options) ? null : f.Options.Split(',').Select(o => o.Trim()).Where(o => o.Length > 0).ToArray();
            object? @default = string.IsNullOrWhiteSpace(f.Default) ? null : f.Kind == "multiselect" ? f.Default.Split(',').Select(o => o.Trim()).ToArray() : f.Default.Trim();
            return new Dictionary<string, object?>
            {
                ["key"] = f.Key!.Trim(),
                ["label"] = string.IsNullOrWhiteSpace(f.Label) ? f.Key!.Trim() : f.Label.Trim(),
                ["kind"] = f.Kind,
                ["required"] = f.Required,
                ["options"] = f.Kind is "select" or "multiselect" ? options : null,
                ["default"] = @default,
            };
        }).ToList();
        var saved = await update.HandleAsync(new UpdateDocumentType(RouteIds.Parse(Id ?? ""), null, JsonSerializer.SerializeToElement(rows)), Me, ct);
        return Done($"Fields of {saved.Name} saved.", $"/admin/document-types?id={saved.Id}");
    }, () => OnGetAsync(ct));
}
