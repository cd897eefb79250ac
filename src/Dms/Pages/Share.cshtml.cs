using Dms.Modules.Documents.Sharing;
using Dms.Platform.Http;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.RateLimiting;

namespace Dms.Pages;

/// <summary>
/// The public page of a share link: the file's name and size and a download button (a password form when the link has
/// one). For people outside the tenant, so it shows nothing else: no tenant, no people, no workspace, not even the
/// signed-in chrome of a visitor who happens to have a session.
/// </summary>
[AllowAnonymous]
[EnableRateLimiting(ShareAddressLimit.Name)]
internal sealed class ShareModel(PublicShares shares) : PageModel
{
    public string Token { get; private set; } = "";

    public SharedFile? Shared { get; private set; }

    /// <summary>Why the link shows no file (expired, withdrawn, unknown…), in plain words.</summary>
    public string? Message { get; private set; }

    public async Task<IActionResult> OnGetAsync(string token, CancellationToken ct)
    {
        PublicShares.NoTraceHeaders(Response);
        Token = token;
        try
        {
            Shared = await shares.OpenAsync(token, ct);
        }
        catch (ApiProblem problem)
        {
            Response.StatusCode = problem.Status;
            foreach (var (name, value) in problem.Headers ?? new Dictionary<string, string>())
            {
                Response.Headers[name] = value;
            }
            Message = problem.Status == StatusCodes.Status404NotFound ? "There is no shared file at this address." : problem.Title;
        }
        return Page();
    }
}
