using Dms.Modules.Approvals.Retention;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>Deleted documents until their purge: restore, and legal hold (which keeps them from being purged).</summary>
internal sealed class TrashModel : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<TrashItem> Items { get; private set; } = new([], null);

    public async Task<IActionResult> OnGetAsync([FromServices] ListTrashHandler trash, CancellationToken ct)
    {
        Items = await trash.HandleAsync(new ListTrash(25, Cursor), Me, ct);
        return Page();
    }

    public Task<IActionResult> OnPostRestoreAsync(string id, [FromServices] RestoreDocumentHandler restore, [FromServices] ListTrashHandler trash,
        CancellationToken ct) => Attempt(async () =>
    {
        await restore.HandleAsync(new RestoreDocument(RouteIds.Parse(id)), Me, ct);
        TempData["Flash"] = "Restored: the document is back in its workspace.";
        return Redirect("/admin/trash");
    }, () => OnGetAsync(trash, ct));

    public Task<IActionResult> OnPostHoldAsync(string id, bool enabled, string? reason, [FromServices] SetLegalHoldHandler hold, [FromServices] ListTrashHandler trash,
        CancellationToken ct) => Attempt(async () =>
    {
        await hold.HandleAsync(new SetLegalHold(RouteIds.Parse(id), enabled, reason), Me, ct);
        return Done(enabled ? "Legal hold placed: the document will not be purged." : "Legal hold lifted.", "/admin/trash");
    }, () => OnGetAsync(trash, ct));
}
