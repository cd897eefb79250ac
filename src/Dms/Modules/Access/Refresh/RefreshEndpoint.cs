using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Refresh;

internal sealed record RefreshRequest(string RefreshToken);

/// <summary><c>POST /api/v1/auth/refresh</c>: a used refresh token for a new pair (see <see cref="RotateRefreshTokenHandler"/>).</summary>
internal static class RefreshEndpoint
{
    public static async Task<IResult> Handle(RefreshRequest body, [FromServices] RotateRefreshTokenHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new RotateRefreshToken(body.RefreshToken), ct));
}
