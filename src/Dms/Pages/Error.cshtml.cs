using System.Diagnostics;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Dms.Ui;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Dms.Pages;

/// <summary>
/// The UI's error page, reached by re-execution (see <see cref="ErrorPages"/>) with the original status: not found,
/// an expired form, or anything else with the trace id to quote. Never shows exception text; an API problem only
/// in its own plain words.
/// </summary>
[IgnoreAntiforgeryToken]
internal sealed class ErrorModel : PageModel
{
    public int Status { get; private set; }
    public string Reference { get; private set; } = "";
    public string? TraceId { get; private set; }
    public bool Expired { get; private set; }
    public string? Message { get; private set; }
    public string BackUrl { get; private set; } = "/documents";

    public async Task<IActionResult> OnGetAsync(int status)
    {
        Status = status is >= 400 and <= 599 ? status : StatusCodes.Status404NotFound;
        var original = HttpContext.Features.Get<IStatusCodeReExecuteFeature>();
        if (original is null)
        {
            // Visited directly: show the page the URL names, with that status.
            Response.StatusCode = Status;
        }
        Expired = HttpContext.Items.ContainsKey(ErrorPages.ExpiredFormKey);
        Message = HttpContext.Items[Platform.Http.ProblemResponses.PageProblemKey] is ApiProblem problem ? UiPage.Plain(problem) : null;
        Reference = HttpContext.Items[CorrelationId.ItemKey] as string ?? HttpContext.TraceIdentifier;
        TraceId = Activity.Current?.TraceId.ToString();
        if (original is { OriginalPath: { Length: > 1 } path } && path.StartsWith('/') && !path.StartsWith("//", StringComparison.Ordinal))
        {
            BackUrl = path + (Expired ? "" : original.OriginalQueryString ?? "");
        }
        // The frame shows the signed-in navigation when the visitor has a session; a server error page stays bare so
        // that it needs nothing that may be what just failed (the database).
        if (Status < 500 && (await HttpContext.AuthenticateAsync(UiModule.Scheme)) is { Succeeded: true } auth)
        {
            HttpContext.User = auth.Principal;
        }
        return Page();
    }
}
