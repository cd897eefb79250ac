using Dms.Modules.Access.Users;
using Dms.Modules.Approvals.Decisions;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>
/// Admins: the tenant's approval inbox (who, what, why, the document, both versions for a replace) with
/// approve / reject. Everyone else: their own requests, with cancel. Decisions are the API's (four-eyes included).
/// </summary>
internal sealed class ApprovalsModel(ListUsersHandler users) : UiPage
{
    /// <summary>The tab (and <c>status</c> value) that shows requests in every state.</summary>
    public const string AllTab = "all";

    private static readonly ApprovalStatus[] InboxTabs =
        [ApprovalStatus.Pending, ApprovalStatus.Approved, ApprovalStatus.Executed, ApprovalStatus.Rejected, ApprovalStatus.Cancelled, ApprovalStatus.Expired, ApprovalStatus.Failed];

    private static readonly ApprovalStatus[] RequesterTabs =
        [ApprovalStatus.Pending, ApprovalStatus.Executed, ApprovalStatus.Rejected, ApprovalStatus.Cancelled, ApprovalStatus.Expired];

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<ApprovalResponse> Requests { get; private set; } = new([], null);
    public IReadOnlyDictionary<Guid, DocumentSummary> Documents { get; private set; } = new Dictionary<Guid, DocumentSummary>();
    public Dictionary<Guid, string> People { get; } = [];
    public bool IsInbox => Me.IsAdmin;
    public string Shown => Status ?? (IsInbox ? ApprovalStatus.Pending.ToString() : AllTab);

    /// <summary>The status tabs: admins start at the pending queue, requesters at all of theirs.</summary>
    public IReadOnlyList<string> Tabs => IsInbox
        ? [.. InboxTabs.Select(s => s.ToString()), AllTab]
        : [AllTab, .. RequesterTabs.Select(s => s.ToString())];

    public Task<IActionResult> OnGetAsync([FromServices] ApprovalInboxHandler inbox, CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(inbox, ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(Page()));

    public Task<IActionResult> OnPostApproveAsync(string id, string? comment, [FromServices] ApproveHandler approve, [FromServices] ApprovalInboxHandler inbox,
        CancellationToken ct) => Attempt(async () =>
    {
        await approve.HandleAsync(new Approve(RouteIds.Parse(id), string.IsNullOrWhiteSpace(comment) ? null : comment), Me, ct);
        return Done("Approved: the change is being carried out.", "/approvals");
    }, () => ReloadAsync(inbox, ct));

    public Task<IActionResult> OnPostRejectAsync(string id, string? reason, [FromServices] RejectHandler reject, [FromServices] ApprovalInboxHandler inbox,
        CancellationToken ct) => Attempt(async () =>
    {
        await reject.HandleAsync(new Reject(RouteIds.Parse(id), reason), Me, ct);
        return Done("Rejected: the requester is told why.", "/approvals");
    }, () => ReloadAsync(inbox, ct));

    public Task<IActionResult> OnPostCancelAsync(string id, [FromServices] CancelHandler cancel, [FromServices] ApprovalInboxHandler inbox, CancellationToken ct) =>
        Attempt(async () =>
        {
            await cancel.HandleAsync(new Cancel(RouteIds.Parse(id)), Me, ct);
            return Done("Request cancelled.", "/approvals");
        }, () => ReloadAsync(inbox, ct));

    private async Task<IActionResult> ReloadAsync(ApprovalInboxHandler inbox, CancellationToken ct)
    {
        await LoadAsync(inbox, ct);
        return Page();
    }

    private async Task LoadAsync(ApprovalInboxHandler inbox, CancellationToken ct)
    {
        var view = await inbox.HandleAsync(new ApprovalInbox(Shown == AllTab ? null : Shown, 25, Cursor), Me, ct);
        Requests = view.Requests;
        Documents = view.Documents;
        if (Me.IsAdmin)
        {
            foreach (var user in await users.HandleAsync(new ListUsers(), Me, ct))
            {
                People[user.Id] = $"{user.DisplayName} <{user.Email}>";
            }
        }
    }

    // Members cannot list users: for them, whoever else acted on their request is an admin.
    public string Who(Guid id) => id == Me.UserId ? "You" : People.GetValueOrDefault(id, Me.IsAdmin ? "A former user" : "An admin");
}
