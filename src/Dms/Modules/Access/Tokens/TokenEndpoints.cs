using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Tokens;

internal sealed record CreateTokenRequest(string? Name, DateTimeOffset? ExpiresAt, string[]? Scopes);

/// <summary>The caller's personal API tokens: <c>POST/GET /me/tokens</c>, <c>DELETE /me/tokens/{id}</c>.</summary>
/// <summary>A new personal token: the only answer that ever carries its value.</summary>
internal sealed record CreatedTokenResponse(Guid Id, string Name, string[] Scopes, DateTime CreatedAt, DateTime ExpiresAt, string Token);

internal static class TokenEndpoints
{
    public static async Task<IResult> Create(HttpContext http, CreateTokenRequest body, [FromServices] CreateTokenHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var viaToken = http.User.FindFirst(DmsClaims.TokenId) is not null;
        var (info, value) = await handler.HandleAsync(new CreateToken(body.Name, body.ExpiresAt, body.Scopes, viaToken), me, ct);
        return Results.Created($"/api/v1/me/tokens/{info.Id}", new CreatedTokenResponse(info.Id, info.Name, info.Scopes, info.CreatedAt, info.ExpiresAt, value));
    }

    public static async Task<IResult> List(HttpContext http, [FromServices] ListTokensHandler handler, CancellationToken ct)
    {
        var items = await handler.HandleAsync(new ListTokens(), CurrentUser.From(http.User), ct);
        return Results.Ok(new { items });
    }

    public static async Task<IResult> Revoke(HttpContext http, string id, [FromServices] RevokeTokenHandler handler, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var tokenId = RouteIds.Parse(id);
        await handler.HandleAsync(new RevokeToken(tokenId), me, ct);
        return Results.NoContent();
    }
}
