using System.Globalization;
using Dms.Modules.Approvals.Delegation;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Approvals.Governance;

internal sealed record DelegationBody(string? DelegateUserId, DateTimeOffset? From, DateTimeOffset? Until);

/// <summary>
/// <c>GET|PUT|DELETE /api/v1/workspaces/{id}/policy</c> (the policy's revision is its ETag; <c>If-Match</c> refuses a save
/// over someone else's edit) and <c>GET|POST|DELETE /api/v1/me/delegation</c>: adapters over the governance handlers.
/// </summary>
internal static class GovernanceEndpoints
{
    public static async Task<IResult> GetPolicy(HttpContext http, string id, [FromServices] GetWorkspacePolicyHandler handler, CancellationToken ct) =>
        Tagged(http, await handler.HandleAsync(new GetWorkspacePolicy(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    public static async Task<IResult> SetPolicy(HttpContext http, string id, GovernancePolicy? body, [FromServices] SetWorkspacePolicyHandler handler,
        CancellationToken ct)
    {
        var workspaceId = RouteIds.Parse(id);
        int? ifRevision = null;
        if (http.Request.Headers.IfMatch.ToString() is { Length: > 0 } ifMatch && ifMatch != "*")
        {
            ifRevision = int.TryParse(ifMatch.Trim().Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var revision)
                ? revision
                : throw new ApiProblem(StatusCodes.Status400BadRequest, "request.malformed", "The If-Match header is not an ETag of this policy.");
        }
        return Tagged(http, await handler.HandleAsync(new SetWorkspacePolicy(workspaceId, body, ifRevision), CurrentUser.From(http.User), ct));
    }

    public static async Task<IResult> ResetPolicy(HttpContext http, string id, [FromServices] ResetWorkspacePolicyHandler handler, CancellationToken ct) =>
        Tagged(http, await handler.HandleAsync(new ResetWorkspacePolicy(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    private static IResult Tagged(HttpContext http, PolicyResponse policy)
    {
        http.Response.Headers.ETag = WorkspacePolicies.ETag(policy.Revision);
        return Results.Ok(policy);
    }

    public static async Task<IResult> GetDelegation(HttpContext http, [FromServices] GetDelegationHandler handler, CancellationToken ct) =>
        await handler.HandleAsync(new GetDelegation(), CurrentUser.From(http.User), ct) is { } delegation
            ? Results.Ok(delegation)
            : throw new ApiProblem(StatusCodes.Status404NotFound, "delegation.not_found", "You have no delegation.");

    public static async Task<IResult> SetDelegation(HttpContext http, DelegationBody? body, [FromServices] SetDelegationHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new SetDelegation(body?.DelegateUserId, body?.From, body?.Until), CurrentUser.From(http.User), ct));

    public static async Task<IResult> RemoveDelegation(HttpContext http, [FromServices] RemoveDelegationHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new RemoveDelegation(), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }
}
