using System.Text.Json;
using Dms.Modules.Approvals.Decisions;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Approvals.Requests;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Edit;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Pages;

/// <summary>One document: metadata (inline edit with the ETag), versions, preview, approval history, audit, requests.</summary>
internal sealed class DocumentModel(Db db, AuditTrail audit, IOptions<DmsOptions> options) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    public DocumentResponse? Document { get; private set; }
    public List<VersionResponse> Versions { get; private set; } = [];
    public List<ApprovalResponse> History { get; private set; } = [];
    public List<AuditEventResponse> Events { get; private set; } = [];
    public bool CanWrite => Me.Role is Roles.Admin or Roles.Member;
    public bool CanAudit => Me.Role is Roles.Admin or Roles.Auditor;
    public ApprovalResponse? Pending => History.FirstOrDefault(h => h.Status == ApprovalStatus.Pending);

    [BindProperty]
    public EditForm Edit { get; set; } = new();

    [BindProperty]
    public string? Reason { get; set; }

    internal sealed class EditForm
    {
        public string? Title { get; set; }
        public string? Description { get; set; }
        public string? Tags { get; set; }
        public string? ETag { get; set; }
    }

    public Task<IActionResult> OnGetAsync(CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(ct);
        Edit = new EditForm
        {
            Title = Document!.Title,
            Description = Document.Description,
            Tags = string.Join(", ", Document.Tags),
            ETag = Document.ETag(),
        };
        return Page();
    }, NotFoundPage);

    public Task<IActionResult> OnPostEditAsync(CancellationToken ct) => Attempt(async () =>
    {
        var body = JsonSerializer.SerializeToElement(new
        {
            title = Edit.Title ?? "",
            description = string.IsNullOrWhiteSpace(Edit.Description) ? null : Edit.Description,
            tags = (Edit.Tags ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
        });
        // The handler reads the version the editor saw from If-Match, as an API client sends it.
        Request.Headers.IfMatch = string.IsNullOrEmpty(Edit.ETag) ? "\"0\"" : Edit.ETag;
        await EditMetadataEndpoint.Handle(HttpContext, Id, body, db, audit, ct);
        Response.Headers.Remove("ETag");
        return Done("Saved.", $"/documents/{Id}");
    }, async () =>
    {
        if (Response.StatusCode == StatusCodes.Status412PreconditionFailed)
        {
            Error = "Someone else changed this document while you were editing. Your changes were not saved: the form now shows the current values; apply your edit again.";
            ModelState.Clear();
            await LoadAsync(ct);
            Edit = new EditForm { Title = Document!.Title, Description = Document.Description, Tags = string.Join(", ", Document.Tags), ETag = Document.ETag() };
            return Page();
        }
        return await ReloadAsync(ct);
    });

    public Task<IActionResult> OnPostDeleteAsync(CancellationToken ct) => Attempt(async () =>
    {
        await RequestEndpoints.RequestDelete(HttpContext, Id, new DeleteRequestBody(Reason), db, options, audit, ct);
        return Done("Delete requested: an admin will decide.", $"/documents/{Id}");
    }, () => ReloadAsync(ct));

    public Task<IActionResult> OnPostCancelAsync(string approvalId, CancellationToken ct) => Attempt(async () =>
    {
        await DecisionEndpoints.Cancel(HttpContext, approvalId, db, audit, ct);
        return Done("Request cancelled.", $"/documents/{Id}");
    }, () => ReloadAsync(ct));

    private async Task<IActionResult> ReloadAsync(CancellationToken ct)
    {
        try
        {
            await LoadAsync(ct);
        }
        catch (ApiProblem)
        {
            return await NotFoundPage();
        }
        Edit.ETag ??= Document!.ETag();
        return Page();
    }

    private Task<IActionResult> NotFoundPage()
    {
        Response.StatusCode = StatusCodes.Status404NotFound;
        Document = null;
        return Task.FromResult<IActionResult>(Page());
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        Document = await Call<DocumentResponse>(BrowseEndpoints.Get(HttpContext, Id, db, ct));
        Response.Headers.Remove("ETag");
        Versions = (await Call<ItemList<VersionResponse>>(BrowseEndpoints.Versions(HttpContext, Id, db, ct))).Items;
        History = (await Call<ItemList<ApprovalResponse>>(ApprovalQueries.History(HttpContext, Id, db, ct))).Items;
        if (CanAudit)
        {
            Events = (await Call<Page<AuditEventResponse>>(AuditEndpoints.List(HttpContext, null, null, Id, null, null, 50, null, db, ct))).Items.ToList();
        }
    }
}
