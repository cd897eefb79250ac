using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

internal sealed record ItemList<T>(List<T> Items);

/// <summary>The document list: workspaces, search, tag filter, keyset paging, and the upload area.</summary>
internal sealed class DocumentsModel(Db db) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Q { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Tag { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Workspace { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public List<WorkspaceResponse> Workspaces { get; private set; } = [];
    public Page<DocumentResponse> Results { get; private set; } = new([], null);
    public WorkspaceResponse? Current { get; private set; }
    public bool CanWrite => Me.Role is Roles.Admin or Roles.Member;
    public bool Filtered => !string.IsNullOrWhiteSpace(Q) || !string.IsNullOrWhiteSpace(Tag);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        if (Me.Role == Roles.Auditor)
        {
            return Redirect("/admin/audit");
        }
        Workspaces = (await Call<ItemList<WorkspaceResponse>>(WorkspaceEndpoints.List(HttpContext, db, ct))).Items;
        Current = Workspaces.FirstOrDefault(w => w.Id.ToString() == Workspace);
        try
        {
            Results = await Call<Page<DocumentResponse>>(BrowseEndpoints.List(HttpContext, db, Q, Current?.Id.ToString(), null,
                string.IsNullOrWhiteSpace(Tag) ? null : Tag, 25, Cursor, ct));
        }
        catch (ApiProblem problem)
        {
            Error = Plain(problem);
            Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
        }
        return Page();
    }

    public string WorkspaceName(Guid id) => Workspaces.FirstOrDefault(w => w.Id == id)?.Name ?? "";

    public string Link(string? cursor = null, string? tag = null, string? workspace = null, bool clearTag = false)
    {
        var query = new Dictionary<string, string?>
        {
            ["q"] = string.IsNullOrWhiteSpace(Q) ? null : Q,
            ["tag"] = clearTag ? null : tag ?? (string.IsNullOrWhiteSpace(Tag) ? null : Tag),
            ["workspace"] = workspace ?? Workspace,
            ["cursor"] = cursor,
        };
        return Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString("/documents", query.Where(p => !string.IsNullOrEmpty(p.Value)));
    }
}
