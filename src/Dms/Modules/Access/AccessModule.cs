using Dms.Modules.Access.Login;
using Dms.Modules.Access.Me;
using Dms.Modules.Access.Refresh;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Access.Users;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
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
        services.AddSingleton<SeatGate>();
        services.AddHandlersFrom(typeof(AccessModule).Namespace!);
        // No signed-in caller to hand them, so they are not IHandlers: registered one by one.
        services.AddSingleton<SignInHandler>();
        services.AddSingleton<RotateRefreshTokenHandler>();
        services.AddSingleton<LogoutHandler>();
        services.AddSingleton<CreateTenantHandler>();
        services.AddAccessAuthentication();
        return services;
    }

    public static IEndpointRouteBuilder MapAccess(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/v1/auth").WithTags("Auth");
        auth.MapPost("/login", LoginEndpoint.Handle).Produces<TokenResponse>(200).WithSummary("Sign in: access and refresh tokens").AllowAnonymous().RequireRateLimiting(Platform.Security.RateLimits.Login);
        auth.MapPost("/refresh", RefreshEndpoint.Handle).Produces<TokenResponse>(200).WithSummary("Exchange a refresh token for new tokens").AllowAnonymous();
        auth.MapPost("/logout", LogoutEndpoint.Handle).Produces(StatusCodes.Status204NoContent).WithSummary("Sign out: revoke the refresh token's family").AllowAnonymous();

        app.MapGet("/api/v1/me", MeEndpoint.Get).Produces<MeResponse>(200).WithSummary("Who am I: user, role and tenant").WithTags("Auth").RequireAuthorization();
        app.MapPost("/api/v1/me/password", Passwords.PasswordEndpoints.Change).Produces<TokenResponse>(200).WithSummary("Change your password (ends your other sessions; answers new tokens)").WithTags("Auth").RequireAuthorization();
        var tokens = app.MapGroup("/api/v1/me/tokens").WithTags("Auth").RequireAuthorization();
        tokens.MapPost("", Tokens.TokenEndpoints.Create).Produces<Tokens.CreatedTokenResponse>(201).WithSummary("Create a personal API token (shown once)");
        tokens.MapGet("", Tokens.TokenEndpoints.List).Produces<ItemsResponse<Tokens.TokenInfo>>(200).WithSummary("List your personal API tokens");
        tokens.MapDelete("/{id}", Tokens.TokenEndpoints.Revoke).Produces(StatusCodes.Status204NoContent).WithSummary("Revoke one of your personal API tokens");

        var users = app.MapGroup("/api/v1/users").WithTags("Users").RequireAuthorization(Policies.Admin);
        users.MapPost("", UserEndpoints.Create).Produces<UserResponse>(201).ProducesProblem(StatusCodes.Status402PaymentRequired).WithSummary("Create a user (admins; takes a seat of the plan)");
        users.MapGet("", UserEndpoints.ListAll).Produces<ItemsResponse<UserResponse>>(200).WithSummary("List the tenant's users (admins)");
        users.MapGet("/{id}", UserEndpoints.Get).Produces<UserResponse>(200).WithSummary("Get a user (admins)");
        users.MapPost("/{id}/password-reset", Passwords.PasswordEndpoints.Reset).Produces<Passwords.PasswordResetResponse>(200).WithSummary("Reset a user's password to a temporary one, shown once (admins)");
        users.MapPatch("/{id}", UserEndpoints.Update).Produces<UserResponse>(200).ProducesProblem(StatusCodes.Status402PaymentRequired).WithSummary("Change a user's role, name or disabled state (admins; enabling takes a seat of the plan)");

        // Anyone signed in to the tenant lists the groups (policy editors pick approvers from it); admins do the rest.
        var groups = app.MapGroup("/api/v1/groups").WithTags("Groups").RequireAuthorization();
        groups.MapPost("", Groups.GroupEndpoints.Create).Produces<Groups.GroupResponse>(201).WithSummary("Create a group of users (admins)").RequireAuthorization(Policies.Admin);
        groups.MapGet("", Groups.GroupEndpoints.List).Produces<ItemsResponse<Groups.GroupResponse>>(200).WithSummary("List the tenant's groups by name");
        groups.MapGet("/{id}", Groups.GroupEndpoints.Get).Produces<Groups.GroupDetailResponse>(200).WithSummary("Get a group with its members (admins)").RequireAuthorization(Policies.Admin);
        groups.MapPatch("/{id}", Groups.GroupEndpoints.Rename).Produces<Groups.GroupResponse>(200).WithSummary("Rename a group (admins)").RequireAuthorization(Policies.Admin);
        groups.MapDelete("/{id}", Groups.GroupEndpoints.Delete).Produces(StatusCodes.Status204NoContent).WithSummary("Delete a group and its memberships (admins)").RequireAuthorization(Policies.Admin);
        groups.MapPost("/{id}/members", Groups.GroupEndpoints.AddMember).Produces<Groups.GroupDetailResponse>(200).WithSummary("Add a user to a group (admins; adding a member again changes nothing)").RequireAuthorization(Policies.Admin);
        groups.MapDelete("/{id}/members/{userId}", Groups.GroupEndpoints.RemoveMember).Produces(StatusCodes.Status204NoContent).WithSummary("Remove a user from a group (admins)").RequireAuthorization(Policies.Admin);

        var members = app.MapGroup("/api/v1/workspaces/{id}/members").WithTags("Workspaces").RequireAuthorization(Policies.ReadDocuments);
        members.MapGet("", Workspaces.MemberEndpoints.List).Produces<ItemsResponse<Workspaces.MemberResponse>>(200).WithSummary("List a workspace's members");
        members.MapPost("", Workspaces.MemberEndpoints.Add).Produces<Workspaces.MemberResponse>(200).WithSummary("Add a member to a workspace or change their role (managers)");
        members.MapDelete("/{userId}", Workspaces.MemberEndpoints.Remove).Produces(StatusCodes.Status204NoContent).WithSummary("Remove a member from a workspace (managers)");

        app.MapPost("/api/v1/platform/tenants", CreateTenantEndpoint.Handle).Produces<ProvisionedTenant>(201).WithSummary("Create a tenant with its first admin (platform key)").WithTags("Platform").AllowAnonymous();
        return app;
    }
}
