using System.Security.Claims;

namespace Dms.Platform.Security;

/// <summary>The caller as the access token states it. The tenant comes from here and nowhere else.</summary>
internal sealed record CurrentUser(Guid UserId, Guid TenantId, string Role, string Email)
{
    public bool IsAdmin => Role == Roles.Admin;

    public static CurrentUser From(ClaimsPrincipal principal)
    {
        var userId = principal.FindFirstValue(DmsClaims.Subject);
        var tenantId = principal.FindFirstValue(DmsClaims.Tenant);
        if (!Guid.TryParse(userId, out var uid) || !Guid.TryParse(tenantId, out var tid))
        {
            throw new InvalidOperationException("An authenticated principal without user and tenant claims reached a handler.");
        }
        return new CurrentUser(uid, tid, principal.FindFirstValue(DmsClaims.Role) ?? "", principal.FindFirstValue(DmsClaims.Email) ?? "");
    }
}

internal static class DmsClaims
{
    public const string Subject = "sub";
    public const string Tenant = "tid";
    public const string Role = "role";
    public const string Email = "email";

    /// <summary>Present when the caller authenticated with a personal API token: the token's id.</summary>
    public const string TokenId = "token_id";

    /// <summary>A token limited to some scopes (<see cref="TokenScopes"/>) carries one claim per scope.</summary>
    public const string Scope = "scope";

    /// <summary>The UI session's refresh token, kept inside the encrypted cookie so signing out can revoke its family.</summary>
    public const string SessionRefreshToken = "dms_refresh";

    /// <summary>Added on each request (never issued in a token) while the account must change its password.</summary>
    public const string MustChangePassword = "must_change_password";
}

internal static class Roles
{
    public const string Admin = "Admin";
    public const string Member = "Member";
    public const string Viewer = "Viewer";
    public const string Auditor = "Auditor";

    public static readonly string[] All = [Admin, Member, Viewer, Auditor];

    /// <summary>Accepts any casing from clients and returns the canonical name, or null.</summary>
    public static string? Canonical(string? role) =>
        All.FirstOrDefault(r => string.Equals(r, role, StringComparison.OrdinalIgnoreCase));
}

/// <summary>Authorization policies: tenant roles for now; workspace roles join in a later issue.</summary>
internal static class Policies
{
    public const string Admin = "admin";
    public const string ReadDocuments = "documents.read";
    public const string WriteDocuments = "documents.write";
    public const string ReadAudit = "audit.read";

    public static void Add(Microsoft.AspNetCore.Authorization.AuthorizationOptions options)
    {
        options.AddPolicy(Admin, p => p.RequireAuthenticatedUser().RequireRole(Roles.Admin));
        options.AddPolicy(ReadDocuments, p => p.RequireAuthenticatedUser().RequireRole(Roles.Admin, Roles.Member, Roles.Viewer));
        options.AddPolicy(WriteDocuments, p => p.RequireAuthenticatedUser().RequireRole(Roles.Admin, Roles.Member));
        options.AddPolicy(ReadAudit, p => p.RequireAuthenticatedUser().RequireRole(Roles.Admin, Roles.Auditor));
        options.FallbackPolicy = null;
    }
}
