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
/// Requests and their decisions. "Waiting for me" (everyone): the requests whose current stage waits for the caller's vote,
/// in their name or a delegator's. Admins also see every request of the tenant by status; everyone else their own and
/// those they were asked to decide. Each request shows its stage and votes; approve / reject only when the caller may
/// decide (the handlers check again and their 403/409 show as a message).
/// </summary>
internal sealed class ApprovalsModel(ListUsersHandler users, ListApprovalsHandler listApprovals, Db db) : UiPage
{
    /// <summary>The tab (and <c>status</c> value) that shows requests in every state.</summary>
    public const string AllTab = "all";

    /// <summary>The tab of the requests waiting for the caller's vote.</summary>
    public const string AwaitingTab = "awaiting";

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

    /// <summary>Each request's votes and who may decide it now (from its details).</summary>
    public Dictionary<Guid, ApprovalResponse> Details { get; } = [];

    /// <summary>The pending requests that wait for the caller's vote (in their name or a delegator's).</summary>
    public HashSet<Guid> AwaitingMe { get; private set; } = [];

    public bool IsInbox => Me.IsAdmin;
    private string? _default;
    public string Shown => Status ?? _default ?? (IsInbox ? ApprovalStatus.Pending.ToString() : AllTab);

    /// <summary>The tabs: "Waiting for me" first, then admins' pending queue and the states, or the requester's own.</summary>
    public IReadOnlyList<string> Tabs => IsInbox
        ? [AwaitingTab, .. InboxTabs.Select(s => s.ToString()), AllTab]
        : [AwaitingTab, AllTab, .. RequesterTabs.Select(s => s.ToString())];

    public static string TabName(string tab) => tab switch
    {
        AwaitingTab => "Waiting for me",
        AllTab => "All",
        _ => tab,
    };

    public Task<IActionResult> OnGetAsync([FromServices] ApprovalInboxHandler inbox, CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(inbox, ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(Page()));

    public Task<IActionResult> OnPostApproveAsync(string id, string? comment, [FromServices] ApproveHandler approve, [FromServices] ApprovalInboxHandler inbox,
        CancellationToken ct) => Attempt(async () =>
    {
        var after = await approve.HandleAsync(new Approve(RouteIds.Parse(id), string.IsNullOrWhiteSpace(comment) ? null : comment), Me, ct);
        return Done(after.Status == ApprovalStatus.Pending
            ? after.Stage is { } stage && stage.Approvals == 0
                ? $"Approved: the request moves on to stage {stage.Index + 1} of {stage.Count} ({stage.Name})."
                : "Approved: your approval is counted; the stage needs more approvals."
            : "Approved: the change is being carried out.", "/approvals");
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
        var awaiting = await listApprovals.HandleAsync(new ListApprovals(ApprovalStatus.Pending.ToString(), null, 100, null, AwaitingMe: true), Me, ct);
        AwaitingMe = [.. awaiting.Items.Select(r => r.Id)];
        if (Status is null && AwaitingMe.Count > 0)
        {
            _default = AwaitingTab;
        }
        var view = Shown == AwaitingTab
            ? await inbox.HandleAsync(new ApprovalInbox(ApprovalStatus.Pending.ToString(), 25, Cursor, AwaitingMe: true), Me, ct)
            : await inbox.HandleAsync(new ApprovalInbox(Shown == AllTab ? null : Shown, 25, Cursor), Me, ct);
        Requests = view.Requests;
        Documents = view.Documents;
        foreach (var (id, details) in view.Details)
        {
            Details[id] = details;
        }
        if (Me.IsAdmin)
        {
            foreach (var user in await users.HandleAsync(new ListUsers(), Me, ct))
            {
                People[user.Id] = $"{user.DisplayName} <{user.Email}>";
            }
        }
        else
        {
            // Others cannot list users: the people on the requests they see are named by e-mail.
            var ids = Details.Values.SelectMany(d => (d.Votes ?? []).SelectMany(v => new[] { v.UserId, v.OnBehalfOf ?? Guid.Empty }))
                .Concat(Requests.Items.Select(r => r.DecidedBy ?? Guid.Empty)).Concat(Requests.Items.Select(r => r.RequestedBy))
                .Where(i => i != Guid.Empty).Distinct().Select(i => i.ToString());
            foreach (var (key, name) in await UiLookups.EntityNamesAsync(db, Me, ids, ct))
            {
                People[Guid.Parse(key)] = name;
            }
        }
    }

    /// <summary>The caller may vote on this request now: it waits for them (or someone who delegated to them).</summary>
    public bool CanDecide(ApprovalResponse r) =>
        r.Status == ApprovalStatus.Pending && r.RequestedBy != Me.UserId &&
        (AwaitingMe.Contains(r.Id) || Details.GetValueOrDefault(r.Id)?.EligibleApprovers?.Any(e => e.UserId == Me.UserId && !e.Voted) == true);

    /// <summary>"Stage 1 of 2 · Managers · 1 of 2 approvals".</summary>
    public static string StageText(StageInfo s) =>
        $"Stage {s.Index + 1} of {s.Count} · {s.Name} · {s.Approvals} of {s.Quorum} approval{(s.Quorum == 1 ? "" : "s")}";

    /// <summary>Who decides the current stage, in words.</summary>
    public string Deciders(ApprovalResponse r)
    {
        var eligible = Details.GetValueOrDefault(r.Id)?.EligibleApprovers ?? [];
        var waiting = eligible.Where(e => !e.Voted).Select(e => e.UserId == Me.UserId ? "you" : e.Email ?? Who(e.UserId)).Distinct().ToList();
        return waiting.Count == 0 ? "" : string.Join(", ", waiting);
    }

    public string Who(Guid id) => id == Me.UserId ? "You" : People.GetValueOrDefault(id, Me.IsAdmin ? "A former user" : "Someone");
}
