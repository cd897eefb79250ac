namespace Dms.Modules.Approvals.Requests;

/// <summary>
/// Transitional, until docs' Requests code is merged onto the <see cref="Domain.ApprovalType"/> enum: inside this
/// namespace the name still means the stored strings, as that code expects (a name in the enclosing namespace wins
/// over its using). The lead deletes this file at integration.
/// </summary>
internal static class ApprovalType
{
    public const string Delete = nameof(Domain.ApprovalType.Delete);
    public const string Replace = nameof(Domain.ApprovalType.Replace);
}
