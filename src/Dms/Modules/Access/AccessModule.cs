using Dms.Modules.Access.Login;
using Dms.Modules.Access.Me;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Access.Users;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Identity;

namespace Dms.Modules.Access;

/// <summary>Tenants, users, sign-in and tokens.</summary>
internal static class AccessModule
{
    public static IServiceCollection AddAccess(this IServiceCollection services)
    {
        services.AddSingleton<IPasswordHasher<UserAccount>, PasswordHasher<UserAccount>>();
        services.AddSingleton<TenantProvisioning>();
        services.AddSingleton<IssueTokens>();
        services.AddSingleton<LoginThrottle>();
        return services;
    }

    public static IEndpointRouteBuilder MapAccess(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/v1/auth").WithTags("Auth");
        auth.MapPost("/login", LoginEndpoint.Handle).AllowAnonymous().RequireRateLimiting(Platform.Security.RateLimits.Login);
        auth.MapPost("/refresh", RefreshEndpoint.Handle).AllowAnonymous();
        auth.MapPost("/logout", LogoutEndpoint.Handle).AllowAnonymous();

        app.MapGet("/api/v1/me", MeEndpoint.Handle).WithTags("Auth").RequireAuthorization();
        var tokens = app.MapGroup("/api/v1/me/tokens").WithTags("Auth").RequireAuthorization();
        tokens.MapPost("", Tokens.PersonalTokens.Create);
        tokens.MapGet("", Tokens.PersonalTokens.List);
        tokens.MapDelete("/{id}", Tokens.PersonalTokens.Revoke);

        var users = app.MapGroup("/api/v1/users").WithTags("Users").RequireAuthorization(Policies.Admin);
        users.MapPost("", UserEndpoints.Create);
        users.MapGet("", UserEndpoints.List);
        users.MapGet("/{id}", UserEndpoints.Get);
        users.MapPatch("/{id}", UserEndpoints.Update);

        var members = app.MapGroup("/api/v1/workspaces/{id}/members").WithTags("Workspaces").RequireAuthorization(Policies.ReadDocuments);
        members.MapGet("", Workspaces.MemberEndpoints.List);
        members.MapPost("", Workspaces.MemberEndpoints.Add);
        members.MapDelete("/{userId}", Workspaces.MemberEndpoints.Remove);

        app.MapPost("/api/v1/platform/tenants", CreateTenantEndpoint.Handle).WithTags("Platform").AllowAnonymous();
        return app;
    }
}
