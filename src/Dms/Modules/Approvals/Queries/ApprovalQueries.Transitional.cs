using Dms.Modules.Approvals.Domain;
using Dms.Platform.Database;

namespace Dms.Modules.Approvals.Queries;

/// <summary>
/// Transitional: the endpoint-shaped calls <c>Pages/Document.cshtml.cs</c> (history) and <c>Ui/Chrome.cs</c> (pending
/// count) still make. The lead deletes this file when they call <see cref="ApprovalHistoryHandler"/> and
/// <see cref="ListApprovalsHandler"/> (and then the casts in <c>MapApprovals</c> can go).
/// </summary>
internal static partial class ApprovalQueries
{
    public static Task<IResult> History(HttpContext http, string id, Db db, CancellationToken ct) =>
        History(http, id, http.RequestServices.GetRequiredService<ApprovalHistoryHandler>(), ct);

    public static Task<IResult> List(HttpContext http, ApprovalStatus status, string? type, int? limit, string? cursor, Db db, CancellationToken ct) =>
        List(http, status.ToString(), type, limit, cursor, http.RequestServices.GetRequiredService<ListApprovalsHandler>(), ct);
}
