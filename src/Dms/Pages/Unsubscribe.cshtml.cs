using Dms.Modules.Notifications.Mail;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Dms.Pages;

/// <summary>
/// The unsubscribe link of every mail, without signing in (the token is the proof). Opening it only asks (mail scanners
/// open links); the button, or a mail client's RFC 8058 one-click POST, turns e-mail off. No antiforgery token: a
/// one-click POST comes from the mail provider without one, and the signed token already names the only user it affects.
/// </summary>
[IgnoreAntiforgeryToken]
internal sealed class UnsubscribeModel(UnsubscribeHandler handler) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Token { get; set; }

    /// <summary><c>kind</c> (the link's) or <c>all</c>.</summary>
    [BindProperty]
    public string? Scope { get; set; }

    public UnsubscribeOffer? Offer { get; private set; }

    /// <summary>Set once e-mail was turned off.</summary>
    public bool Done { get; private set; }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Offer = await handler.ReadAsync(Token, ct);
        return Answer();
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        Offer = await handler.StopAsync(Token, all: Scope == "all", ct);
        Done = Offer is not null;
        return Answer();
    }

    /// <summary>The page; a link that is not valid answers 400 with a plain explanation.</summary>
    private PageResult Answer()
    {
        if (Offer is null)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
        }
        return Page();
    }
}
