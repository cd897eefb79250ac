using Dms.Modules.Documents.Duplicates;
using Dms.Modules.Documents.Sharing;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>The organisation's document settings: share links on or off and their longest life, and whether duplicate uploads are refused.</summary>
internal sealed class SettingsModel : UiPage
{
    public ShareSettingsResponse Sharing { get; private set; } = new(false, 1);
    public DuplicateSettingsResponse Duplicates { get; private set; } = new(false);

    public async Task<IActionResult> OnGetAsync([FromServices] GetShareSettingsHandler sharing, [FromServices] GetDuplicateSettingsHandler duplicates,
        CancellationToken ct)
    {
        Sharing = await sharing.HandleAsync(new GetShareSettings(), Me, ct);
        Duplicates = await duplicates.HandleAsync(new GetDuplicateSettings(), Me, ct);
        return Page();
    }

    /// <summary>A checkbox sends its value only when ticked: absent means off.</summary>
    public Task<IActionResult> OnPostSharingAsync(bool enabled, int? maxDays, [FromServices] ChangeShareSettingsHandler change,
        [FromServices] GetShareSettingsHandler sharing, [FromServices] GetDuplicateSettingsHandler duplicates, CancellationToken ct) => Attempt(async () =>
    {
        var saved = await change.HandleAsync(new ChangeShareSettings(enabled, maxDays), Me, ct);
        return Done(saved.Enabled ? $"Share links are on; a link lives at most {saved.MaxDays} days." : "Share links are off: no new links, and existing ones stop working until they are turned on again.",
            "/admin/settings");
    }, () => OnGetAsync(sharing, duplicates, ct));

    public Task<IActionResult> OnPostDuplicatesAsync(bool refuse, [FromServices] ChangeDuplicateSettingsHandler change,
        [FromServices] GetShareSettingsHandler sharing, [FromServices] GetDuplicateSettingsHandler duplicates, CancellationToken ct) => Attempt(async () =>
    {
        var saved = await change.HandleAsync(new ChangeDuplicateSettings(refuse), Me, ct);
        return Done(saved.Refuse ? "Duplicate uploads are now refused." : "Duplicate uploads are now kept and pointed out.", "/admin/settings");
    }, () => OnGetAsync(sharing, duplicates, ct));
}
