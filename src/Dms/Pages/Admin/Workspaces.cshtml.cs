using Dms.Modules.Access.Users;
using Dms.Modules.Access.Workspaces;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>Workspaces (create) and their members (add with a workspace role, change, remove).</summary>
internal sealed class WorkspacesModel(ListWorkspacesHandler workspaces, CreateWorkspaceHandler createWorkspace) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Id { get; set; }

    public List<WorkspaceResponse> Workspaces { get; private set; } = [];
    public WorkspaceResponse? Current { get; private set; }
    public List<MemberResponse> Members { get; private set; } = [];
    public List<UserResponse> Users { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync([FromServices] ListMembersHandler members, [FromServices] ListUsersHandler users, CancellationToken ct)
    {
        Workspaces = [.. await workspaces.HandleAsync(new ListWorkspaces(), Me, ct)];
        Current = Workspaces.FirstOrDefault(w => w.Id.ToString() == Id) ?? Workspaces.FirstOrDefault();
        if (Current is not null)
        {
            Members = [.. await members.HandleAsync(new ListMembers(Current.Id), Me, ct)];
            Users = (await users.HandleAsync(new ListUsers(), Me, ct))
                .Where(u => !u.Disabled && Members.All(m => m.UserId != u.Id)).ToList();
        }
        return Page();
    }

    public Task<IActionResult> OnPostCreateAsync(string? name, string? description, [FromServices] ListMembersHandler members, [FromServices] ListUsersHandler users,
        CancellationToken ct) => Attempt(async () =>
    {
        var created = await createWorkspace.HandleAsync(new CreateWorkspace(name ?? "", string.IsNullOrWhiteSpace(description) ? null : description), Me, ct);
        return Done($"Workspace {created.Name} created.", $"/admin/workspaces?id={created.Id}");
    }, () => OnGetAsync(members, users, ct));

    public Task<IActionResult> OnPostAddAsync(string? userId, string? role, [FromServices] AddMemberHandler add, [FromServices] ListMembersHandler members,
        [FromServices] ListUsersHandler users, CancellationToken ct) => Attempt(async () =>
    {
        await add.HandleAsync(new AddMember(RouteIds.Parse(Id ?? ""), userId, role), Me, ct);
        return Done("Member saved.", $"/admin/workspaces?id={Id}");
    }, () => OnGetAsync(members, users, ct));

    public Task<IActionResult> OnPostRemoveAsync(string userId, [FromServices] RemoveMemberHandler remove, [FromServices] ListMembersHandler members,
        [FromServices] ListUsersHandler users, CancellationToken ct) => Attempt(async () =>
    {
        await remove.HandleAsync(new RemoveMember(RouteIds.Parse(Id ?? ""), RouteIds.Parse(userId, "userId")), Me, ct);
        return Done("Member removed.", $"/admin/workspaces?id={Id}");
    }, () => OnGetAsync(members, users, ct));
}
