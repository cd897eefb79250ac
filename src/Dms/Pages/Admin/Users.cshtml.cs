using Dms.Modules.Access;
using Dms.Modules.Access.Passwords;
using Dms.Modules.Access.Users;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>
/// Tenant users: create, change role, disable / enable, reset a password (the API's user handlers, audited), and the
/// plan's seats used (docs/seats.md).
/// </summary>
internal sealed class UsersModel : UiPage
{
    public List<UserResponse> Users { get; private set; } = [];

    /// <summary>Seats used and the plan's limit; the line is left out when the plan has no seat limit.</summary>
    public SeatUse? Seats { get; private set; }

    /// <summary>A reset's temporary password, shown on this one response only (never put in TempData or a redirect).</summary>
    public PasswordResetResponse? Reset { get; private set; }

    [BindProperty]
    public NewUser Form { get; set; } = new();

    internal sealed class NewUser
    {
        public string? Email { get; set; }
        public string? DisplayName { get; set; }
        public string? Role { get; set; } = "Member";
        public string? Password { get; set; }
    }

    public async Task<IActionResult> OnGetAsync([FromServices] ListUsersHandler list, [FromServices] GetSeatUseHandler seats, CancellationToken ct)
    {
        Users = [.. await list.HandleAsync(new ListUsers(), Me, ct)];
        Seats = await seats.HandleAsync(new GetSeatUse(), Me, ct);
        return Page();
    }

    public Task<IActionResult> OnPostCreateAsync([FromServices] CreateUserHandler create, [FromServices] ListUsersHandler list, [FromServices] GetSeatUseHandler seats, CancellationToken ct) => Attempt(async () =>
    {
        var created = await create.HandleAsync(
            new CreateUser(Form.Email ?? "", Form.Password ?? "", Form.Role ?? "", string.IsNullOrWhiteSpace(Form.DisplayName) ? null : Form.DisplayName), Me, ct);
        return Done($"User {created.Email} created as {created.Role}.", "/admin/users");
    }, () =>
    {
        Form.Password = null;
        return OnGetAsync(list, seats, ct);
    });

    public Task<IActionResult> OnPostResetAsync(string id, [FromServices] ResetPasswordHandler reset, [FromServices] ListUsersHandler list, [FromServices] GetSeatUseHandler seats, CancellationToken ct) => Attempt(async () =>
    {
        Reset = await reset.HandleAsync(new ResetPassword(RouteIds.Parse(id)), Me, ct);
        Response.Headers.CacheControl = "no-store";
        return await OnGetAsync(list, seats, ct);
    }, () => OnGetAsync(list, seats, ct));

    public Task<IActionResult> OnPostUpdateAsync(string id, string? role, bool? disabled, [FromServices] UpdateUserHandler update, [FromServices] ListUsersHandler list,
        [FromServices] GetSeatUseHandler seats, CancellationToken ct) => Attempt(async () =>
    {
        var updated = await update.HandleAsync(new UpdateUser(RouteIds.Parse(id), role, disabled, null), Me, ct);
        return Done($"{updated.Email}: {updated.Role}{(updated.Disabled ? ", disabled" : "")}.", "/admin/users");
    }, () => OnGetAsync(list, seats, ct));
}
