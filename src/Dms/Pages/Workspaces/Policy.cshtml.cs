using System.Xml;
using Dms.Modules.Access.Groups;
using Dms.Modules.Access.Users;
using Dms.Modules.Access.Workspaces;
using Dms.Modules.Approvals.Governance;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Workspaces;

/// <summary>
/// A workspace's approval policy as a plain form (the policy handlers decide and validate): per operation done directly or
/// after up to three stages of approval, expiry, reminders and escalation. Tenant admins and the workspace's managers
/// edit it; other readers of the workspace see it read-only. Approvers are tenant admins, the workspace's managers, named
/// people and groups.
/// </summary>
internal sealed class PolicyModel(GetWorkspacePolicyHandler getPolicy, GetWorkspaceHandler getWorkspace, ListMembersHandler listMembers,
    ListColleaguesHandler listColleagues, ListGroupsHandler listGroups, Db db) : UiPage
{
    public const int StageRows = 3;

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    [BindProperty]
    public PolicyForm Form { get; set; } = new();

    public WorkspaceResponse? Workspace { get; private set; }
    public PolicyResponse? Current { get; private set; }
    public bool CanEdit { get; private set; }

    /// <summary>The people who can be named, by id: e-mail and name.</summary>
    public List<(Guid Id, string Label)> People { get; private set; } = [];

    /// <summary>The tenant's groups, by id: their names and sizes.</summary>
    public List<(Guid Id, string Label)> Groups { get; private set; } = [];

    /// <summary>The handler's per-field problems of the last save (keys as the API names them: operations.delete.stages[0].approvers).</summary>
    public IDictionary<string, string[]> Problems { get; private set; } = new Dictionary<string, string[]>();

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        Form = PolicyForm.From(Current!);
        return Page();
    }

    public async Task<IActionResult> OnPostAsync([FromServices] SetWorkspacePolicyHandler set, CancellationToken ct)
    {
        try
        {
            var policy = Form.ToPolicy();
            await set.HandleAsync(new SetWorkspacePolicy(RouteIds.Parse(Id), policy, Form.Revision), Me, ct);
            return Done("Approval policy saved. Requests already open keep the policy they were made under.", $"/workspaces/{Id}/policy");
        }
        catch (ApiProblem problem)
        {
            Error = problem.Errors is { Count: > 0 } ? "The policy was not saved: see the problems below." : Plain(problem);
            Problems = problem.Errors ?? new Dictionary<string, string[]>();
            Response.StatusCode = problem.Status == StatusCodes.Status412PreconditionFailed ? problem.Status : StatusCodes.Status422UnprocessableEntity;
            await LoadAsync(ct);
            return Page();
        }
    }

    public Task<IActionResult> OnPostResetAsync([FromServices] ResetWorkspacePolicyHandler reset, CancellationToken ct) => Attempt(async () =>
    {
        await reset.HandleAsync(new ResetWorkspacePolicy(RouteIds.Parse(Id)), Me, ct);
        return Done("The workspace follows the default policy again.", $"/workspaces/{Id}/policy");
    }, async () =>
    {
        await LoadAsync(ct);
        Form = PolicyForm.From(Current!);
        return Page();
    });

    private async Task LoadAsync(CancellationToken ct)
    {
        var workspaceId = RouteIds.Parse(Id);
        Workspace = await getWorkspace.HandleAsync(new GetWorkspace(workspaceId), Me, ct);
        Current = await getPolicy.HandleAsync(new GetWorkspacePolicy(workspaceId), Me, ct);
        var members = await listMembers.HandleAsync(new ListMembers(workspaceId), Me, ct);
        CanEdit = Me.IsAdmin || members.Any(m => m.UserId == Me.UserId && m.Role == WorkspaceRoles.Manager);
        People = [.. (await listColleagues.HandleAsync(new ListColleagues(), Me, ct)).Select(u => (u.Id, $"{u.Email} ({u.DisplayName})"))];
        Groups = [.. (await listGroups.HandleAsync(new ListGroups(), Me, ct)).Select(g => (g.Id, $"{g.Name} ({g.MemberCount} member{(g.MemberCount == 1 ? "" : "s")})"))];
        // Someone the policy names stays selectable even when the list above leaves them out.
        var named = PolicyRules.Named(Current.ToPolicy()).Users.Concat(Form.AllUsers()).Where(u => People.All(p => p.Id != u)).Distinct().ToList();
        if (named.Count > 0)
        {
            var names = await UiLookups.EntityNamesAsync(db, Me, named.Select(u => u.ToString()), ct);
            People.AddRange(named.Select(u => (u, names.GetValueOrDefault(u.ToString(), "A former user"))));
        }
    }

    /// <summary>The problems of one field and of everything under it (operations.delete → its mode, stages, …).</summary>
    public IEnumerable<string> ProblemsOf(string prefix) =>
        Problems.Where(p => p.Key == prefix || p.Key.StartsWith(prefix + ".", StringComparison.Ordinal) || p.Key.StartsWith(prefix + "[", StringComparison.Ordinal))
            .SelectMany(p => p.Value.Select(m => $"{Where(p.Key)}{m}"));

    /// <summary>Where in the form a problem is, in words ("Stage 2: ").</summary>
    private static string Where(string key)
    {
        var at = key.IndexOf(".stages[", StringComparison.Ordinal);
        if (at < 0)
        {
            return "";
        }
        var close = key.IndexOf(']', at);
        return int.TryParse(key[(at + 8)..close], out var index) ? $"Stage {index + 1}: " : "";
    }
}

/// <summary>The policy as the form posts it.</summary>
internal sealed class PolicyForm
{
    public int Revision { get; set; }
    public Dictionary<string, OperationForm> Ops { get; set; } = [];
    public int? ExpiryDays { get; set; }

    /// <summary>Set when the stored expiry is not whole days (PT12H): kept unless the days field is changed.</summary>
    public string? ExpiresAfter { get; set; }

    public bool Remind50 { get; set; }
    public bool Remind90 { get; set; }

    /// <summary>Other reminder fractions the policy already has (set through the API): kept.</summary>
    public List<double> OtherReminders { get; set; } = [];

    public int? EscalateAfterDays { get; set; }
    public string? EscalateAfter { get; set; }
    public List<Guid> EscalateUsers { get; set; } = [];
    public List<Guid> EscalateGroups { get; set; } = [];
    public bool EscalateAdmins { get; set; }
    public bool EscalateManagers { get; set; }
    public int? EscalateQuorum { get; set; }

    public OperationForm Op(string operation) => Ops.TryGetValue(operation, out var op) ? op : Ops[operation] = new OperationForm();

    public IEnumerable<Guid> AllUsers() => Ops.Values.SelectMany(o => o.Stages).SelectMany(s => s.Users).Concat(EscalateUsers);

    public static PolicyForm From(PolicyResponse policy)
    {
        var expiry = XmlConvert.ToTimeSpan(policy.ExpiresAfter);
        var after = policy.Escalation?.After is { } a ? XmlConvert.ToTimeSpan(a) : (TimeSpan?)null;
        var form = new PolicyForm
        {
            Revision = policy.Revision,
            ExpiryDays = expiry.Ticks % TimeSpan.TicksPerDay == 0 ? (int)expiry.TotalDays : null,
            ExpiresAfter = expiry.Ticks % TimeSpan.TicksPerDay == 0 ? null : policy.ExpiresAfter,
            Remind50 = policy.RemindAt.Contains(0.5),
            Remind90 = policy.RemindAt.Contains(0.9),
            OtherReminders = [.. policy.RemindAt.Where(r => r is not 0.5 and not 0.9)],
            EscalateAfterDays = after is { } t && t.Ticks % TimeSpan.TicksPerDay == 0 ? (int)t.TotalDays : null,
            EscalateAfter = after is { } u && u.Ticks % TimeSpan.TicksPerDay != 0 ? policy.Escalation!.After : null,
            EscalateUsers = [.. policy.Escalation?.Approvers?.Users ?? []],
            EscalateGroups = [.. policy.Escalation?.Approvers?.Groups ?? []],
            EscalateAdmins = policy.Escalation?.Approvers?.Roles?.Contains(Roles.Admin) == true,
            EscalateManagers = policy.Escalation?.Approvers?.WorkspaceManagers == true,
            EscalateQuorum = policy.Escalation?.Quorum,
        };
        foreach (var (name, op) in policy.Operations)
        {
            form.Ops[name] = new OperationForm
            {
                Mode = op.Mode ?? PolicyModes.Direct,
                Stages = [.. (op.Stages ?? []).Select(s => new StageForm
                {
                    Name = s.Name,
                    Admins = s.Approvers?.Roles?.Contains(Roles.Admin) == true,
                    Managers = s.Approvers?.WorkspaceManagers == true,
                    Users = [.. s.Approvers?.Users ?? []],
                    Groups = [.. s.Approvers?.Groups ?? []],
                    Quorum = s.Quorum,
                })],
            };
        }
        return form;
    }

    public GovernancePolicy ToPolicy()
    {
        var operations = new Dictionary<string, OperationPolicy>();
        foreach (var operation in GovernedOperations.All)
        {
            var op = Op(operation);
            if (op.Mode == PolicyModes.Approval)
            {
                operations[operation] = new OperationPolicy(PolicyModes.Approval, [.. op.Stages.Where(s => !s.IsBlank).Select(s => new StagePolicy(
                    string.IsNullOrWhiteSpace(s.Name) ? null : s.Name, Approvers(s.Admins, s.Managers, s.Users, s.Groups), s.Quorum))]);
            }
            else
            {
                operations[operation] = new OperationPolicy(PolicyModes.Direct, []);
            }
        }
        var expires = ExpiryDays is { } days ? XmlConvert.ToString(TimeSpan.FromDays(days)) : ExpiresAfter;
        List<double> remind = [.. OtherReminders];
        if (Remind50)
        {
            remind.Add(0.5);
        }
        if (Remind90)
        {
            remind.Add(0.9);
        }
        var after = EscalateAfterDays is { } d ? XmlConvert.ToString(TimeSpan.FromDays(d)) : EscalateAfter;
        EscalationPolicy? escalation = after is null && EscalateUsers.Count == 0 && EscalateGroups.Count == 0 && !EscalateAdmins && !EscalateManagers
            ? null
            : new EscalationPolicy(after, Approvers(EscalateAdmins, EscalateManagers, EscalateUsers, EscalateGroups), EscalateQuorum);
        return new GovernancePolicy(operations, expires, remind, escalation);
    }

    private static ApproverSet Approvers(bool admins, bool managers, List<Guid> users, List<Guid> groups) =>
        new(admins ? [Roles.Admin] : [], managers, users, groups);
}

internal sealed class OperationForm
{
    public string Mode { get; set; } = PolicyModes.Direct;
    public List<StageForm> Stages { get; set; } = [];

    /// <summary>The stage rows the form shows: the policy's, then empty ones up to <see cref="PolicyModel.StageRows"/>.</summary>
    public IReadOnlyList<StageForm> Rows => [.. Stages, .. Enumerable.Range(0, Math.Max(0, PolicyModel.StageRows - Stages.Count)).Select(_ => new StageForm())];
}

internal sealed class StageForm
{
    public string? Name { get; set; }
    public bool Admins { get; set; }
    public bool Managers { get; set; }
    public List<Guid> Users { get; set; } = [];
    public List<Guid> Groups { get; set; } = [];
    public int? Quorum { get; set; }

    /// <summary>A row left empty is no stage.</summary>
    public bool IsBlank => string.IsNullOrWhiteSpace(Name) && !Admins && !Managers && Users.Count == 0 && Groups.Count == 0;
}
