using Dms.Modules.Access.Tenants;
using Dms.Modules.Access.Users;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Ui;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>Tenant users: create, change role, disable / enable (the API's user handlers, audited).</summary>
internal sealed class UsersModel(Db db, IPasswordHasher<UserAccount> hasher, AuditTrail audit, Modules.Access.Login.LoginThrottle throttle) : UiPage
{
    public List<UserResponse> Users { get; private set; } = [];

    /// <summary>A reset's temporary password, shown on this one response only (never put in TempData or a redirect).</summary>
    public Modules.Access.Passwords.PasswordResetResponse? Reset { get; private set; }

    [BindProperty]
    public NewUser Form { get; set; } = new();

    internal sealed class NewUser
    {
        public string? Email { get; set; }
        public string? DisplayName { get; set; }
        public string? Role { get; set; } = "Member";
        public string? Password { get; set; }
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Users = (await Call<ItemList<UserResponse>>(UserEndpoints.List(HttpContext, db, ct))).Items;
        return Page();
    }

    public Task<IActionResult> OnPostCreateAsync(CancellationToken ct) => Attempt(async () =>
    {
        var created = await Call<UserResponse>(UserEndpoints.Create(HttpContext,
            new CreateUserRequest(Form.Email ?? "", Form.Password ?? "", Form.Role ?? "", string.IsNullOrWhiteSpace(Form.DisplayName) ? null : Form.DisplayName),
            db, hasher, audit, ct));
        return Done($"User {created.Email} created as {created.Role}.", "/admin/users");
    }, () =>
    {
        Form.Password = null;
        return OnGetAsync(ct);
    });

    public Task<IActionResult> OnPostResetAsync(string id, CancellationToken ct) => Attempt(async () =>
    {
        Reset = await Call<Modules.Access.Passwords.PasswordResetResponse>(Modules.Access.Passwords.PasswordEndpoints.Reset(HttpContext, id, db, hasher, audit, throttle, ct));
        Response.Headers.CacheControl = "no-store";
        return await OnGetAsync(ct);
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostUpdateAsync(string id, string? role, bool? disabled, CancellationToken ct) => Attempt(async () =>
    {
        var updated = await Call<UserResponse>(UserEndpoints.Update(HttpContext, id, new UpdateUserRequest(role, disabled, null), db, audit, ct));
        return Done($"{updated.Email}: {updated.Role}{(updated.Disabled ? ", disabled" : "")}.", "/admin/users");
    }, () => OnGetAsync(ct));
}
