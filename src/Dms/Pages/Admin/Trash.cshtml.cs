using Dms.Modules.Approvals.Retention;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>Deleted documents until their purge: restore, and legal hold (which keeps them from being purged).</summary>
internal sealed class TrashModel(Db db) : UiPage
{
    /// <summary>The tenant's storage against its plan: deleted documents count until purged, which the page says when storage is limited.</summary>
    public StorageQuota? Storage { get; private set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<TrashItem> Items { get; private set; } = new([], null);

    public async Task<IActionResult> OnGetAsync([FromServices] ListTrashHandler trash, CancellationToken ct)
    {
        Items = await trash.HandleAsync(new ListTrash(25, Cursor), Me, ct);
        Storage = await UiLookups.StorageAsync(db, Me, ct);
        return Page();
    }

    public Task<IActionResult> OnPostRestoreAsync(string id, [FromServices] RestoreDocumentHandler restore, [FromServices] ListTrashHandler trash,
        CancellationToken ct) => Attempt(async () =>
    {
        var outcome = await restore.HandleAsync(new RestoreDocument(RouteIds.Parse(id)), Me, ct);
        TempData["Flash"] = outcome.Request is null
            ? "Restored: the document is back in its workspace."
            : "Restore requested: this workspace's policy needs it approved first. It is on the Approvals page.";
        return Redirect("/admin/trash");
    }, () => OnGetAsync(trash, ct));

    public Task<IActionResult> OnPostHoldAsync(string id, bool enabled, string? reason, [FromServices] SetLegalHoldHandler hold, [FromServices] ListTrashHandler trash,
        CancellationToken ct) => Attempt(async () =>
    {
        var outcome = await hold.HandleAsync(new SetLegalHold(RouteIds.Parse(id), enabled, reason), Me, ct);
        return Done(enabled ? "Legal hold placed: the document will not be purged."
            : outcome.Request is null ? "Legal hold lifted."
            : "Lifting the legal hold was requested: this workspace's policy needs it approved first. It is on the Approvals page.", "/admin/trash");
    }, () => OnGetAsync(trash, ct));
}
