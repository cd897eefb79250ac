using Dms.Modules.Approvals.Domain;

namespace Dms.Ui;

/// <summary>Approval states on pages (the approvals page, a document's pending request and history).</summary>
internal static partial class Display
{
    public static string StatusClass(ApprovalStatus status) => status switch
    {
        ApprovalStatus.Approved or ApprovalStatus.Executed => "badge ok",
        ApprovalStatus.Pending => "badge warn",
        ApprovalStatus.Rejected or ApprovalStatus.Failed => "badge bad",
        _ => "badge",
    };

    /// <summary>An approval state in words: its name.</summary>
    public static string Status(ApprovalStatus status) => status.ToString();
}
