using Dms.Modules.Access.Users;
using Dms.Modules.Access.Workspaces;
using Dms.Modules.Approvals.Delegation;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Account;

/// <summary>
/// Out of office: someone decides approval requests in your name from a time until a time (the delegation handlers decide
/// and validate). Admins choose among the tenant's users; others among the members of their workspaces.
/// </summary>
internal sealed class DelegationModel(GetDelegationHandler getDelegation, ListColleaguesHandler listColleagues, Db db) : UiPage
{
    [BindProperty]
    public string? DelegateUserId { get; set; }

    /// <summary>UTC, as the form's datetime-local fields send it.</summary>
    [BindProperty]
    public DateTime? From { get; set; }

    [BindProperty]
    public DateTime? Until { get; set; }

    public DelegationResponse? Current { get; private set; }
    public string CurrentDelegate { get; private set; } = "";
    public List<(Guid Id, string Label)> People { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        return Page();
    }

    public Task<IActionResult> OnPostAsync([FromServices] SetDelegationHandler set, CancellationToken ct) => Attempt(async () =>
    {
        await set.HandleAsync(new SetDelegation(DelegateUserId, Utc(From), Utc(Until)), Me, ct);
        return Done("Delegation saved: your delegate decides requests in your name during that time.", "/account/delegation");
    }, async () =>
    {
        await LoadAsync(ct);
        return Page();
    });

    public Task<IActionResult> OnPostEndAsync([FromServices] RemoveDelegationHandler remove, CancellationToken ct) => Attempt(async () =>
    {
        await remove.HandleAsync(new RemoveDelegation(), Me, ct);
        return Done("Delegation ended: requests wait for you again.", "/account/delegation");
    }, async () =>
    {
        await LoadAsync(ct);
        return Page();
    });

    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

    /// <summary>A time as the datetime-local field shows it (UTC, to the minute).</summary>
    public static string Field(DateTime? utc) => utc?.ToString("yyyy-MM-dd'T'HH:mm", System.Globalization.CultureInfo.InvariantCulture) ?? "";

    private async Task LoadAsync(CancellationToken ct)
    {
        Current = await getDelegation.HandleAsync(new GetDelegation(), Me, ct);
        People = [.. (await listColleagues.HandleAsync(new ListColleagues(), Me, ct)).Where(u => u.Id != Me.UserId).Select(u => (u.Id, $"{u.Email} ({u.DisplayName})"))];
        if (Current is not null)
        {
            CurrentDelegate = People.FirstOrDefault(p => p.Id == Current.DelegateUserId).Label
                ?? (await UiLookups.EntityNamesAsync(db, Me, [Current.DelegateUserId.ToString()], ct)).GetValueOrDefault(Current.DelegateUserId.ToString(), "a former user");
            DelegateUserId ??= Current.DelegateUserId.ToString();
            From ??= Current.From;
            Until ??= Current.Until;
        }
    }
}
