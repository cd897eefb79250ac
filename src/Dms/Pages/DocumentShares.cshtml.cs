using System.ComponentModel.DataAnnotations;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Sharing;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Pages;

/// <summary>A document's share links: make one (the address is shown once, here), see them all, revoke one.</summary>
internal sealed class DocumentSharesModel(GetDocumentHandler documents, ListSharesHandler list, TimeProvider clock) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    public DocumentResponse? Document { get; private set; }

    public IReadOnlyList<ShareResponse> Shares { get; private set; } = [];

    /// <summary>The address of the link just made: the only time it is shown.</summary>
    public string? CreatedUrl { get; private set; }

    [BindProperty]
    public CreateForm Create { get; set; } = new();

    public sealed class CreateForm
    {
        [Range(1, 3650)]
        public int Days { get; set; } = 7;

        public string? Password { get; set; }

        public int? MaxDownloads { get; set; }
    }

    public Task<IActionResult> OnGetAsync(CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(Page()));

    public Task<IActionResult> OnPostCreateAsync([FromServices] CreateShareHandler create, [FromServices] IOptions<DmsOptions> options, CancellationToken ct) =>
        Attempt(async () =>
        {
            var created = await create.HandleAsync(new CreateShare(RouteIds.Parse(Id), clock.GetUtcNow().AddDays(Create.Days),
                string.IsNullOrEmpty(Create.Password) ? null : Create.Password, Create.MaxDownloads, Version: null), Me, ct);
            CreatedUrl = new Uri(ApiBase.From(HttpContext, options.Value), $"s/{created.Token}").ToString();
            Response.Headers.CacheControl = "no-store";
            await LoadAsync(ct);
            return Page();
        }, async () =>
        {
            await TryLoadAsync(ct);
            return Page();
        });

    public Task<IActionResult> OnPostRevokeAsync(string shareId, [FromServices] RevokeShareHandler revoke, CancellationToken ct) => Attempt(async () =>
    {
        await revoke.HandleAsync(new RevokeShare(RouteIds.Parse(shareId)), Me, ct);
        return Done("The link was revoked.", $"/documents/{Id}/shares");
    }, async () =>
    {
        await TryLoadAsync(ct);
        return Page();
    });

    private async Task LoadAsync(CancellationToken ct)
    {
        var id = RouteIds.Parse(Id);
        Document = await documents.HandleAsync(new GetDocument(id), Me, ct);
        Shares = (await list.HandleAsync(new ListShares(id), Me, ct)).Items;
    }

    private async Task TryLoadAsync(CancellationToken ct)
    {
        try
        {
            await LoadAsync(ct);
        }
        catch (ApiProblem)
        {
            // The page shows the first error; the document may be gone or unreadable.
        }
    }
}
