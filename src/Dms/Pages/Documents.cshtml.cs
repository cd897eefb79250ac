using Dms.Modules.Documents;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Folders;
using Dms.Modules.Documents.Previews;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>The document list: workspaces, search, tag/status/type filters, sorting, keyset paging, a table or thumbnail grid, and the upload area.</summary>
internal sealed class DocumentsModel(Db db) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Q { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Tag { get; set; }

    /// <summary>The document type to list (<c>typeId</c>) and one of its fields with a value (<c>f.&lt;key&gt;=</c>; a range for numbers and dates is the API's).</summary>
    [BindProperty(SupportsGet = true)]
    public string? TypeId { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? FieldKey { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? FieldValue { get; set; }

    public List<Modules.Documents.Types.DocumentType> DocumentTypes { get; private set; } = [];

    public string? TypeName(Guid? id) => id is null ? null : DocumentTypes.FirstOrDefault(t => t.Id == id)?.Name;

    [BindProperty(SupportsGet = true)]
    public string? Workspace { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Folder { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    [BindProperty]
    public string? NewFolderName { get; set; }

    /// <summary>The tenant's storage against its plan, for the upload area's "space left" (shown only when the plan limits it).</summary>
    public StorageQuota? Storage { get; private set; }

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Type { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Sort { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Order { get; set; }

    /// <summary><c>view=grid</c> shows thumbnails in cards; anything else the table.</summary>
    [BindProperty(SupportsGet = true)]
    public string? View { get; set; }

    public bool Grid => string.Equals(View, "grid", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The saved view opened from the views page or the home page (<c>savedView=&lt;id&gt;</c>; <c>view</c> is the table/grid
    /// toggle's): its columns shape the table. The filters are the query string's own, so changing one keeps the columns.
    /// </summary>
    [BindProperty(SupportsGet = true)]
    public string? SavedView { get; set; }

    public Modules.Documents.Views.ViewResponse? OpenView { get; private set; }

    /// <summary>The table's columns: the open view's (title always first), else the table's own.</summary>
    public IReadOnlyList<string> Columns { get; private set; } = DefaultColumns;

    public static readonly IReadOnlyList<string> DefaultColumns = ["title", "type", "size", "workspace", "status", "updatedAt"];

    /// <summary>Where the bulk bar's "Move to" can send documents: as the move page lists them.</summary>
    public IReadOnlyList<Modules.Documents.Move.MoveTarget> MoveTargets { get; private set; } = [];

    /// <summary>A column's heading: a custom field by its label in the listed type (else the first type that has it), else its key.</summary>
    public string ColumnHeading(string column) => column.StartsWith("fields.", StringComparison.Ordinal)
        ? FieldOf(column["fields.".Length..])?.Label ?? column["fields.".Length..]
        : SavedViewsModel.ColumnLabel(column);

    public Modules.Documents.Types.FieldDefinition? FieldOf(string key) =>
        DocumentTypes.FirstOrDefault(t => t.Id.ToString() == TypeId)?.Field(key) ?? DocumentTypes.Select(t => t.Field(key)).FirstOrDefault(f => f is not null);

    /// <summary>A document's value of a custom field in words, "—" when it has none.</summary>
    public string FieldText(DocumentResponse d, string key) =>
        d.TypeId is { } typeId && DocumentTypes.FirstOrDefault(t => t.Id == typeId)?.Field(key) is { } field
            && d.Fields.ValueKind == System.Text.Json.JsonValueKind.Object && d.Fields.TryGetProperty(key, out var value)
            && value.ValueKind != System.Text.Json.JsonValueKind.Null
            ? Modules.Documents.Types.FieldValues.Display(field, value)
            : "—";

    /// <summary>The grid's thumbnail state per listed version; absent: not rendered yet.</summary>
    public Dictionary<(Guid DocumentId, int Number), RenditionStatus> Thumbnails { get; private set; } = [];

    public List<WorkspaceResponse> Workspaces { get; private set; } = [];
    public Page<DocumentResponse> Results { get; private set; } = new([], null);
    public WorkspaceResponse? Current { get; private set; }

    /// <summary>The folder being browsed, with its ancestors (<see cref="FolderContentsResponse.Path"/>) for the breadcrumb.</summary>
    public FolderContentsResponse? CurrentFolder { get; private set; }

    /// <summary>The folders one level below the current place: a workspace's top-level folders or a folder's children.</summary>
    public List<FolderResponse> Subfolders { get; private set; } = [];
    /// <summary>Workspaces the caller may upload to and create folders in (their workspace role, capped by their tenant role).</summary>
    public HashSet<Guid> Contributable { get; private set; } = [];

    /// <summary>Upload and folder creation are offered only where they would be allowed: in the workspace shown, or anywhere for "All workspaces".</summary>
    public bool CanWrite => Current is not null ? Contributable.Contains(Current.Id) : Contributable.Count > 0;

    /// <summary>Where the upload area puts files: the workspace shown, else the default one, else the first the caller may upload to.</summary>
    public WorkspaceResponse? UploadWorkspace => Current is not null
        ? (CanWrite ? Current : null)
        : Workspaces.Where(w => Contributable.Contains(w.Id)).OrderByDescending(w => w.IsDefault).FirstOrDefault();
    public bool Filtered => !string.IsNullOrWhiteSpace(Q) || !string.IsNullOrWhiteSpace(Tag) || !string.IsNullOrEmpty(Status) || !string.IsNullOrEmpty(Type);

    /// <summary>The queries the page shows, handed to its handler methods by the container.</summary>
    private sealed record Readers(ListWorkspacesHandler Workspaces, GetFolderHandler Folder, ListTopLevelFoldersHandler TopLevel, ListDocumentsHandler Documents);

    public async Task<IActionResult> OnGetAsync([FromServices] ListWorkspacesHandler workspaces, [FromServices] GetFolderHandler folder,
        [FromServices] ListTopLevelFoldersHandler topLevel, [FromServices] ListDocumentsHandler documents, CancellationToken ct)
    {
        if (Me.Role == Roles.Auditor)
        {
            return Redirect("/admin/audit");
        }
        await LoadAsync(new Readers(workspaces, folder, topLevel, documents), ct);
        return Page();
    }

    /// <summary>Creates a folder in the current place (a workspace's top level or the current folder) and opens it.</summary>
    public Task<IActionResult> OnPostFolderAsync([FromServices] CreateFolderHandler create, [FromServices] ListWorkspacesHandler workspaces,
        [FromServices] GetFolderHandler folder, [FromServices] ListTopLevelFoldersHandler topLevel, [FromServices] ListDocumentsHandler documents,
        CancellationToken ct) => Attempt(async () =>
    {
        var created = await create.HandleAsync(new CreateFolder(Workspace ?? "", string.IsNullOrEmpty(Folder) ? null : Folder, NewFolderName ?? ""), Me, ct);
        return Done($"Folder {created.Name} created.", Link(workspace: created.WorkspaceId.ToString(), folder: created.Id.ToString(), keepFilters: false));
    }, async () =>
    {
        await LoadAsync(new Readers(workspaces, folder, topLevel, documents), ct);
        return Page();
    });

    private async Task LoadAsync(Readers read, CancellationToken ct)
    {
        Workspaces = [.. await read.Workspaces.HandleAsync(new ListWorkspaces(), Me, ct)];
        Contributable = await UiLookups.ContributableWorkspacesAsync(db, Me, ct);
        Storage = await UiLookups.StorageAsync(db, Me, ct);
        try
        {
            if (!string.IsNullOrEmpty(Folder))
            {
                // The folder decides the workspace: a shared link names the folder only if it must.
                CurrentFolder = await read.Folder.HandleAsync(new GetFolder(RouteIds.Parse(Folder)), Me, ct);
                Workspace = CurrentFolder.WorkspaceId.ToString();
                Subfolders = [.. CurrentFolder.Children];
            }
            Current = Workspaces.FirstOrDefault(w => w.Id.ToString() == Workspace);
            if (Current is not null && CurrentFolder is null)
            {
                Subfolders = [.. await read.TopLevel.HandleAsync(new ListTopLevelFolders(Current.Id), Me, ct)];
            }
            await OpenViewAsync(ct);
            DocumentTypes = [.. await HttpContext.RequestServices.GetRequiredService<Modules.Documents.Types.ListDocumentTypesHandler>()
                .HandleAsync(new Modules.Documents.Types.ListDocumentTypes(), Me, ct)];
            var fieldFilter = FieldFilters();
            Results = await read.Documents.HandleAsync(new ListDocuments(Q, CurrentFolder is null ? Current?.Id.ToString() : null,
                CurrentFolder?.Id.ToString(), string.IsNullOrWhiteSpace(Tag) ? null : Tag, Blank(Status), Blank(Type), Blank(Sort), Blank(Order), 25, Cursor,
                Blank(TypeId), fieldFilter), Me, ct);
            if (Results.Items.Count > 0 && Contributable.Count > 0)
            {
                MoveTargets = await HttpContext.RequestServices.GetRequiredService<Modules.Documents.Move.ListMoveTargetsHandler>()
                    .HandleAsync(new Modules.Documents.Move.ListMoveTargets(), Me, ct);
            }
            if (Grid)
            {
                // One query for the page: only listed (so readable) versions, and only their states, not their bytes.
                var listed = Results.Items.Select(d => (d.Id, d.CurrentVersion.Number)).ToList();
                Thumbnails = await db.InTenantAsync(Me.TenantId, (c, tx) => Renditions.ThumbnailsAsync(c, tx, Me.TenantId, listed, ct), ct);
            }
        }
        catch (ApiProblem problem)
        {
            Error ??= Plain(problem);
            if (Response.StatusCode < 400)
            {
                Response.StatusCode = problem.Status == StatusCodes.Status404NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status422UnprocessableEntity;
            }
        }
    }

    /// <summary>
    /// Reads the view named by <c>savedView</c>. One the caller cannot see (or a malformed id) leaves the table as it is, with
    /// the reason, rather than failing the list: the filters in the query string still apply.
    /// </summary>
    private async Task OpenViewAsync(CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(SavedView))
        {
            return;
        }
        try
        {
            OpenView = await HttpContext.RequestServices.GetRequiredService<Modules.Documents.Views.GetViewHandler>()
                .HandleAsync(new Modules.Documents.Views.GetView(RouteIds.Parse(SavedView)), Me, ct);
            Columns = [.. OpenView.Columns.Where(c => c != "title").Prepend("title")];
        }
        catch (ApiProblem problem)
        {
            Error = $"The saved view could not be opened: {Plain(problem)}";
            SavedView = null;
        }
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    public string WorkspaceName(Guid id) => Workspaces.FirstOrDefault(w => w.Id == id)?.Name ?? "";

    /// <summary>This list's URL with some parts changed: shareable, since every filter lives in the query string.</summary>
    /// <summary>
    /// The field conditions of the list: the page's own field chooser (<c>fieldKey</c>, <c>fieldValue</c>) and any <c>f.…</c> parameter as the
    /// API names them (a saved view opened from the home page, a range from a link). Null without a document type: fields belong to one.
    /// </summary>
    private Dictionary<string, string>? FieldFilters()
    {
        if (string.IsNullOrWhiteSpace(TypeId))
        {
            return null;
        }
        var filters = Request.Query.Where(p => p.Key.StartsWith("f.", StringComparison.Ordinal) && !string.IsNullOrWhiteSpace(p.Value))
            .ToDictionary(p => p.Key, p => p.Value.ToString().Trim(), StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(FieldKey) && !string.IsNullOrWhiteSpace(FieldValue))
        {
            filters[$"f.{FieldKey}"] = FieldValue.Trim();
        }
        else if (filters.Count == 1 && filters.Keys.Single().Count(c => c == '.') == 1)
        {
            // One equality, as a view saved from this page holds it: shown in the field chooser.
            (FieldKey, FieldValue) = (filters.Keys.Single()[2..], filters.Values.Single());
        }
        return filters.Count == 0 ? null : filters;
    }

    public string Link(string? cursor = null, string? tag = null, string? workspace = null, bool clearTag = false, string? folder = null, bool keepFilters = true,
        string? view = null)
    {
        var query = new Dictionary<string, string?>
        {
            ["q"] = keepFilters ? Blank(Q) : null,
            ["tag"] = clearTag || !keepFilters ? null : tag ?? Blank(Tag),
            ["workspace"] = workspace ?? Workspace,
            // Another workspace has other folders: choosing one leaves the folder unless a folder is named.
            ["folder"] = folder ?? (workspace is null ? Blank(Folder) : null),
            ["status"] = keepFilters ? Blank(Status) : null,
            ["type"] = keepFilters ? Blank(Type) : null,
            ["typeId"] = keepFilters ? Blank(TypeId) : null,
            ["fieldKey"] = keepFilters && !string.IsNullOrWhiteSpace(TypeId) ? Blank(FieldKey) : null,
            ["fieldValue"] = keepFilters && !string.IsNullOrWhiteSpace(TypeId) ? Blank(FieldValue) : null,
            ["sort"] = Blank(Sort),
            ["order"] = Blank(Order),
            ["view"] = view ?? (Grid ? "grid" : null),
            ["savedView"] = Blank(SavedView),
            ["cursor"] = cursor,
        };
        return Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString("/documents", query.Where(p => !string.IsNullOrEmpty(p.Value)));
    }
}

/// <summary>The documents page's query string as the list API's parameters.</summary>
internal static class DocumentsPageQuery
{
    /// <summary>
    /// The list parameters in the documents page's query string, named as the API names them (<c>workspace</c> becomes <c>workspaceId</c>, the
    /// field chooser <c>f.&lt;key&gt;</c>); paging and display are not filters. What "Save view" saves and "Select all matching" acts on.
    /// </summary>
    public static Dictionary<string, string?> ToListParameters(string? queryString)
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(queryString);
        // The page's field chooser is one condition on the chosen type's field, as the API spells it.
        if (query.TryGetValue("fieldKey", out var fieldKey) && query.TryGetValue("fieldValue", out var fieldValue)
            && !string.IsNullOrWhiteSpace(fieldKey) && !string.IsNullOrWhiteSpace(fieldValue) && !string.IsNullOrWhiteSpace(query.GetValueOrDefault("typeId")))
        {
            result[$"f.{fieldKey}"] = fieldValue.ToString().Trim();
        }
        foreach (var (key, value) in query)
        {
            var name = key switch
            {
                "workspace" => "workspaceId",
                "folder" => "folderId",
                "cursor" or "limit" or "view" or "savedView" or "handler" => null,
                _ when key.StartsWith("f.", StringComparison.Ordinal) || ListDocuments.Names.Contains(key) => key,
                _ => null,
            };
            if (name is not null && !string.IsNullOrEmpty(value.ToString()))
            {
                result[name] = value.ToString();
            }
        }
        return result;
    }
}
