using Dms.Modules.Documents.Views;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>The home page: the user's pinned views as cards with how many documents match, and the documents changed last.</summary>
internal sealed class IndexModel : UiPage
{
    public HomeResponse Home { get; private set; } = new([], []);

    public async Task<IActionResult> OnGetAsync([FromServices] GetHomeHandler home, CancellationToken ct)
    {
        // Auditors read the audit trail, not documents (as the documents page sends them there).
        if (Me.Role == Roles.Auditor)
        {
            return Redirect("/admin/audit");
        }
        Home = await home.HandleAsync(new GetHome(), Me, ct);
        return Page();
    }

    /// <summary>"12", or "1,000+" when the count stopped at the cap.</summary>
    public static string CountText(ViewResponse view) =>
        view.Count is not { } n ? "" : n.ToString("N0", System.Globalization.CultureInfo.InvariantCulture) + (view.CountCapped == true ? "+" : "");
}
