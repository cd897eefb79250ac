using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Views;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Pages;

/// <summary>
/// The saved views the user can see (their own and the shared ones): open, pin to the home page, delete. The documents list's
/// "Save view" form (<c>_SaveView</c>) posts here.
/// </summary>
internal sealed class SavedViewsModel : UiPage
{
    public IReadOnlyList<ViewResponse> Items { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync([FromServices] ListViewsHandler list, CancellationToken ct)
    {
        if (Me.Role == Roles.Auditor)
        {
            return Redirect("/admin/audit");
        }
        Items = await list.HandleAsync(new ListViews(), Me, ct);
        return Page();
    }

    /// <summary>
    /// Saves the documents list's current filters. <paramref name="filters"/> is that page's query string: its <c>workspace</c> and
    /// <c>folder</c> are the list's <c>workspaceId</c> and <c>folderId</c>; paging and display (<c>cursor</c>, <c>view</c>) are not filters.
    /// A refusal goes back to the list with the reason, the filters as they were.
    /// </summary>
    public async Task<IActionResult> OnPostSaveAsync([FromForm] string? viewName, [FromForm] string? filters, [FromForm] bool shared, [FromForm] bool pin,
        [FromForm] string[]? columns, [FromServices] CreateViewHandler create, CancellationToken ct)
    {
        var back = QueryHelpers.AddQueryString("/documents", QueryHelpers.ParseQuery(filters)
            .Where(p => p.Key is not "cursor").Select(p => new KeyValuePair<string, string?>(p.Key, p.Value.ToString())));
        try
        {
            var view = await create.HandleAsync(new CreateView(viewName, DocumentsPageQuery.ToListParameters(filters), columns is { Length: > 0 } ? columns : null, shared, pin), Me, ct);
            TempData["Flash"] = $"View “{view.Name}” saved{(view.Pinned ? " and pinned to your home page" : "")}.";
        }
        catch (ApiProblem problem)
        {
            TempData["FlashError"] = $"The view was not saved: {Plain(problem)}";
        }
        return Redirect(back);
    }

    public Task<IActionResult> OnPostPinAsync([FromForm] string id, [FromForm] bool pinned, [FromServices] UpdateViewHandler update,
        [FromServices] ListViewsHandler list, CancellationToken ct) => Attempt(async () =>
    {
        var view = await update.HandleAsync(new UpdateView(RouteIds.Parse(id), Pinned: pinned), Me, ct);
        return Done(view.Pinned ? $"“{view.Name}” is pinned to your home page." : $"“{view.Name}” is no longer on your home page.", "/views");
    }, () => OnGetAsync(list, ct));

    public Task<IActionResult> OnPostDeleteAsync([FromForm] string id, [FromServices] DeleteViewHandler delete, [FromServices] ListViewsHandler list,
        CancellationToken ct) => Attempt(async () =>
    {
        await delete.HandleAsync(new DeleteView(RouteIds.Parse(id)), Me, ct);
        return Done("View deleted.", "/views");
    }, () => OnGetAsync(list, ct));

    /// <summary>A view's columns in words.</summary>
    public static string ColumnLabel(string column) => column switch
    {
        "title" => "Title",
        "type" => "Type",
        "tags" => "Tags",
        "status" => "Status",
        "updatedAt" => "Updated",
        "size" => "Size",
        "workspace" => "Workspace",
        _ when column.StartsWith("fields.", StringComparison.Ordinal) => $"Field “{column["fields.".Length..]}”",
        _ => column,
    };
}
