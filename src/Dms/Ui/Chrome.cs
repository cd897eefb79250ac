using Dms.Modules.Access.Me;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Notifications;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Ui;

internal sealed record CountResponse(long Count);

/// <summary>What the frame around every page shows: who is signed in, unread notifications, pending approvals (admins).</summary>
internal sealed class Chrome(IHttpContextAccessor accessor, Db db)
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
        Me = (await MeEndpoint.Handle(http, db, ct) as IValueHttpResult)?.Value as MeResponse;
        Unread = (await NotificationsModule.UnreadCount(http, db, ct) as IValueHttpResult)?.Value is { } count
            ? System.Text.Json.JsonSerializer.SerializeToElement(count).GetProperty("count").GetInt64()
            : 0;
        if (CurrentUser.From(http.User).IsAdmin)
        {
            var page = (await ApprovalQueries.List(http, ApprovalStatus.Pending, null, 100, null, db, ct) as IValueHttpResult)?.Value as Page<ApprovalResponse>;
            PendingApprovals = page?.Items.Count ?? 0;
            MorePending = page?.NextCursor is not null;
        }
    }
}
