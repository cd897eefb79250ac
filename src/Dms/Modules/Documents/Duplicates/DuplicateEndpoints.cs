using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Duplicates;

internal sealed record DuplicateSettingsBody(bool? Refuse);

/// <summary>The admins' duplicate setting (the check itself runs inside the upload handlers).</summary>
internal static class DuplicateEndpoints
{
    public static RouteGroupBuilder MapDuplicateSettings(this RouteGroupBuilder admin)
    {
        admin.MapGet("/duplicate-settings", Get).Produces<DuplicateSettingsResponse>(200).WithSummary("Get whether duplicate uploads are refused (admins)");
        admin.MapPut("/duplicate-settings", Put).Produces<DuplicateSettingsResponse>(200).WithSummary("Refuse duplicate uploads, or only flag them (admins)");
        return admin;
    }

    private static async Task<IResult> Get(HttpContext http, [FromServices] GetDuplicateSettingsHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetDuplicateSettings(), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Put(HttpContext http, DuplicateSettingsBody body, [FromServices] ChangeDuplicateSettingsHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ChangeDuplicateSettings(body.Refuse), CurrentUser.From(http.User), ct));
}
