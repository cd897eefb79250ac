using Dms.Modules.Audit;
using Dms.Platform.Database;

namespace Dms.Modules.Approvals.Decisions;

/// <summary>
/// Transitional: the endpoint-shaped call <c>Pages/Document.cshtml.cs</c> still makes. The lead deletes this file when
/// that page calls <see cref="CancelHandler"/> (and then the cast in <c>MapApprovals</c> can go).
/// </summary>
internal static partial class DecisionEndpoints
{
    public static Task<IResult> Cancel(HttpContext http, string id, Db db, AuditTrail audit, CancellationToken ct) =>
        Cancel(http, id, http.RequestServices.GetRequiredService<CancelHandler>(), ct);
}

/// <summary>Transitional: the call <c>Pages/Admin/Outbox.cshtml.cs</c> still makes; deleted when it calls <see cref="GiveUpHandler"/>.</summary>
internal static class GiveUpEndpoint
{
    public static Task<IResult> Handle(HttpContext http, string id, Db db, AuditTrail audit, CancellationToken ct) =>
        DecisionEndpoints.GiveUp(http, id, http.RequestServices.GetRequiredService<GiveUpHandler>(), ct);
}
