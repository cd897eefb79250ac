using Dms.Modules.Access.Me;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Notifications.Inbox;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Ui;

/// <summary>What the frame around every page shows: who is signed in, unread notifications, pending approvals (admins).</summary>
internal sealed class Chrome(IHttpContextAccessor accessor, GetMeHandler getMe, CountUnreadHandler countUnread, ListApprovalsHandler listApprovals)
{
    public MeResponse? Me { get; private set; }
    public long Unread { get; private set; }
    public int PendingApprovals { get; private set; }
    public bool MorePending { get; private set; }

    public async Task LoadAsync()
    {
        var http = accessor.HttpContext!;
        if (http.User.Identity?.IsAuthenticated != true || Me is not null)
        {
            return;
        }
        var ct = http.RequestAborted;
        var me = CurrentUser.From(http.User);
        Me = await getMe.HandleAsync(new GetMe(), me, ct);
        Unread = (await countUnread.HandleAsync(new CountUnread(), me, ct)).Count;
        // The badge counts the requests waiting for the caller's vote (in their name or a delegator's), whoever they are.
        var page = await listApprovals.HandleAsync(new ListApprovals(ApprovalStatus.Pending.ToString(), null, 100, null, AwaitingMe: true), me, ct);
        PendingApprovals = page.Items.Count;
        MorePending = page.NextCursor is not null;
    }
}
