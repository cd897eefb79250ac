using Dms.Modules.Access.Users;
using Dms.Modules.Approvals.Decisions;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>
/// Admins: the tenant's approval inbox (who, what, why, the document, both versions for a replace) with
/// approve / reject. Everyone else: their own requests, with cancel. Decisions are the API's (four-eyes included).
/// </summary>
internal sealed class ApprovalsModel(Db db, AuditTrail audit) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<ApprovalResponse> Requests { get; private set; } = new([], null);
    public Dictionary<Guid, DocumentResponse?> Documents { get; } = [];
    public Dictionary<Guid, string> People { get; } = [];
    public bool IsInbox => Me.IsAdmin;
    public string Shown => Status ?? (IsInbox ? ApprovalStatus.Pending : "all");

    public Task<IActionResult> OnGetAsync(CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(Page()));

    public Task<IActionResult> OnPostApproveAsync(string id, string? comment, CancellationToken ct) => Attempt(async () =>
    {
        await DecisionEndpoints.Approve(HttpContext, id, new ApproveBody(string.IsNullOrWhiteSpace(comment) ? null : comment), db, audit, ct);
        return Done("Approved: the change is being carried out.", "/approvals");
    }, () => ReloadAsync(ct));

    public Task<IActionResult> OnPostRejectAsync(string id, string? reason, CancellationToken ct) => Attempt(async () =>
    {
        await DecisionEndpoints.Reject(HttpContext, id, new RejectBody(reason), db, audit, ct);
        return Done("Rejected: the requester is told why.", "/approvals");
    }, () => ReloadAsync(ct));

    public Task<IActionResult> OnPostCancelAsync(string id, CancellationToken ct) => Attempt(async () =>
    {
        await DecisionEndpoints.Cancel(HttpContext, id, db, audit, ct);
        return Done("Request cancelled.", "/approvals");
    }, () => ReloadAsync(ct));

    private async Task<IActionResult> ReloadAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        return Page();
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        var status = Shown == "all" ? null : Shown;
        Requests = await Call<Page<ApprovalResponse>>(ApprovalQueries.List(HttpContext, status, null, 25, Cursor, db, ct));
        foreach (var documentId in Requests.Items.Select(r => r.DocumentId).Distinct())
        {
            try
            {
                Documents[documentId] = await Call<DocumentResponse>(BrowseEndpoints.Get(HttpContext, documentId.ToString(), db, ct));
            }
            catch (ApiProblem)
            {
                // Deleted or out of the caller's reach: the request still shows, without the document's details.
                Documents[documentId] = null;
            }
        }
        Response.Headers.Remove("ETag");
        if (Me.IsAdmin)
        {
            foreach (var user in (await Call<ItemList<UserResponse>>(UserEndpoints.List(HttpContext, db, ct))).Items)
            {
                People[user.Id] = $"{user.DisplayName} <{user.Email}>";
            }
        }
    }

    // Members cannot list users: for them, whoever else acted on their request is an admin.
    public string Who(Guid id) => id == Me.UserId ? "You" : People.GetValueOrDefault(id, Me.IsAdmin ? "A former user" : "An admin");
}
