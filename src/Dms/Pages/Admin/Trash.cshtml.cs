using Dms.Modules.Approvals.Retention;
using Dms.Modules.Audit;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Pages.Admin;

/// <summary>Deleted documents until their purge: restore, and legal hold (which keeps them from being purged).</summary>
internal sealed class TrashModel(Db db, AuditTrail audit, IOptions<DmsOptions> options) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<TrashItem> Items { get; private set; } = new([], null);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Items = await Call<Page<TrashItem>>(RetentionEndpoints.Trash(HttpContext, 25, Cursor, db, options, ct));
        return Page();
    }

    public Task<IActionResult> OnPostRestoreAsync(string id, CancellationToken ct) => Attempt(async () =>
    {
        await RetentionEndpoints.Restore(HttpContext, id, db, audit, ct);
        TempData["Flash"] = "Restored: the document is back in its workspace.";
        return Redirect("/admin/trash");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostHoldAsync(string id, bool enabled, string? reason, CancellationToken ct) => Attempt(async () =>
    {
        await RetentionEndpoints.LegalHold(HttpContext, id, new LegalHoldBody(enabled, reason), db, audit, ct);
        return Done(enabled ? "Legal hold placed: the document will not be purged." : "Legal hold lifted.", "/admin/trash");
    }, () => OnGetAsync(ct));
}
