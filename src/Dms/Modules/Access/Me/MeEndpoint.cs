using Dms.Platform.Database;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Access.Me;

/// <summary><c>GET /api/v1/me</c>: who the token belongs to.</summary>
internal static class MeEndpoint
{
    public static async Task<IResult> Get(HttpContext http, [FromServices] GetMeHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetMe(), CurrentUser.From(http.User), ct));
}
