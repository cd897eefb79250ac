namespace Dms.Platform.Security;

/// <summary>What one can do inside a workspace. Tenant-wide actions (users, decisions, audit) are role checks.</summary>
internal enum WorkspaceAction
{
    /// <summary>List, read, download documents and versions; read folders and approval history.</summary>
    Read,

    /// <summary>Upload, edit metadata, create folders, request replace or delete.</summary>
    Contribute,

    /// <summary>Add, change and remove the workspace's members.</summary>
    ManageMembers,
}

internal static class WorkspaceRoles
{
    public const string Viewer = "Viewer";
    public const string Contributor = "Contributor";
    public const string Manager = "Manager";

    public static readonly string[] All = [Viewer, Contributor, Manager];

    public static string? Canonical(string? role) => All.FirstOrDefault(r => string.Equals(r, role, StringComparison.OrdinalIgnoreCase));

    /// <summary>The workspace role a new user gets in the default workspace.</summary>
    public static string? DefaultFor(string tenantRole) => tenantRole switch
    {
        Roles.Member => Contributor,
        Roles.Viewer => Viewer,
        _ => null,
    };
}

/// <summary>
/// The permission matrix, in one place (docs/permissions.md is the same table; a test walks every cell).
/// A tenant Admin may do everything in every workspace; an Auditor nothing with documents; a Member what
/// their workspace role allows; a Viewer at most read, whatever their workspace role.
/// </summary>
internal static class Permissions
{
    public static bool Allows(string tenantRole, string? workspaceRole, WorkspaceAction action)
    {
        if (tenantRole == Roles.Admin)
        {
            return true;
        }
        if (tenantRole is not (Roles.Member or Roles.Viewer) || workspaceRole is null)
        {
            return false;
        }
        var effective = tenantRole == Roles.Viewer ? WorkspaceRoles.Viewer : workspaceRole;
        return action switch
        {
            WorkspaceAction.Read => true,
            WorkspaceAction.Contribute => effective is WorkspaceRoles.Contributor or WorkspaceRoles.Manager,
            WorkspaceAction.ManageMembers => effective is WorkspaceRoles.Manager,
            _ => false,
        };
    }
}
