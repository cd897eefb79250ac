using Dms.Modules.Access.Groups;
using Dms.Modules.Access.Users;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>Groups of users (create, rename, delete) and their members (add, remove): the API's group handlers, audited.</summary>
internal sealed class GroupsModel(ListGroupsHandler groups, GetGroupHandler getGroup, ListUsersHandler users) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Id { get; set; }

    public List<GroupResponse> Groups { get; private set; } = [];
    public GroupDetailResponse? Current { get; private set; }

    /// <summary>Enabled users who are not members of the current group yet: who can be added.</summary>
    public List<UserResponse> Candidates { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Groups = [.. await groups.HandleAsync(new ListGroups(), Me, ct)];
        var selected = Groups.FirstOrDefault(g => g.Id.ToString() == Id) ?? Groups.FirstOrDefault();
        if (selected is not null)
        {
            Current = await getGroup.HandleAsync(new GetGroup(selected.Id), Me, ct);
            Candidates = (await users.HandleAsync(new ListUsers(), Me, ct))
                .Where(u => !u.Disabled && Current.Members.All(m => m.UserId != u.Id)).ToList();
        }
        return Page();
    }

    public Task<IActionResult> OnPostCreateAsync(string? name, [FromServices] CreateGroupHandler create, CancellationToken ct) => Attempt(async () =>
    {
        var created = await create.HandleAsync(new CreateGroup(name), Me, ct);
        return Done($"Group {created.Name} created.", $"/admin/groups?id={created.Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostRenameAsync(string? name, [FromServices] RenameGroupHandler rename, CancellationToken ct) => Attempt(async () =>
    {
        var renamed = await rename.HandleAsync(new RenameGroup(RouteIds.Parse(Id ?? ""), name), Me, ct);
        return Done($"Group renamed to {renamed.Name}.", $"/admin/groups?id={renamed.Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostDeleteAsync([FromServices] DeleteGroupHandler delete, CancellationToken ct) => Attempt(async () =>
    {
        var deleted = await delete.HandleAsync(new DeleteGroup(RouteIds.Parse(Id ?? "")), Me, ct);
        return Done($"Group {deleted.Name} deleted.", "/admin/groups");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostAddAsync(string? userId, [FromServices] AddGroupMemberHandler add, CancellationToken ct) => Attempt(async () =>
    {
        var group = await add.HandleAsync(new AddGroupMember(RouteIds.Parse(Id ?? ""), userId), Me, ct);
        return Done("Member added.", $"/admin/groups?id={group.Id}");
    }, () => OnGetAsync(ct));

    public Task<IActionResult> OnPostRemoveAsync(string? userId, [FromServices] RemoveGroupMemberHandler remove, CancellationToken ct) => Attempt(async () =>
    {
        var groupId = RouteIds.Parse(Id ?? "");
        await remove.HandleAsync(new RemoveGroupMember(groupId, RouteIds.Parse(userId ?? "", "userId")), Me, ct);
        return Done("Member removed.", $"/admin/groups?id={groupId}");
    }, () => OnGetAsync(ct));
}
