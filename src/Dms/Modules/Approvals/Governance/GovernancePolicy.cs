using System.Text.Json;
using System.Text.Json.Serialization;
using System.Xml;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Approvals.Governance;

/// <summary>The operations a workspace policy governs, by their names in the API (<c>operations.delete</c>, …).</summary>
internal static class GovernedOperations
{
    public const string Delete = "delete";
    public const string Replace = "replace";
    public const string Restore = "restore";
    public const string Move = "move";
    public const string LegalHoldLift = "legalHoldLift";

    public static readonly string[] All = [Delete, Replace, Restore, Move, LegalHoldLift];

    /// <summary>What the operation is called in running text.</summary>
    public static string Describe(string operation) => operation switch
    {
        Delete => "Delete a document",
        Replace => "Replace it (new version)",
        Restore => "Restore from trash",
        Move => "Move out of the workspace",
        LegalHoldLift => "Lift a legal hold",
        _ => operation,
    };
}

internal static class PolicyModes
{
    public const string Direct = "direct";
    public const string Approval = "approval";
}

/// <summary>Who may decide: tenant roles, the workspace's managers, named users and groups (any of them).</summary>
internal sealed record ApproverSet(IReadOnlyList<string>? Roles, bool? WorkspaceManagers, IReadOnlyList<Guid>? Users, IReadOnlyList<Guid>? Groups)
{
    [JsonIgnore]
    public bool IsEmpty => (Roles?.Count ?? 0) == 0 && WorkspaceManagers != true && (Users?.Count ?? 0) == 0 && (Groups?.Count ?? 0) == 0;
}

/// <summary>One stage of an approval: its approvers and how many of them must approve.</summary>
internal sealed record StagePolicy(string? Name, ApproverSet? Approvers, int? Quorum);

/// <summary>How one operation is governed: done at once (<c>direct</c>) or after approval in stages.</summary>
internal sealed record OperationPolicy(string? Mode, IReadOnlyList<StagePolicy>? Stages);

/// <summary>After <see cref="After"/> without a decision on a stage, these approvers may decide it too (<see cref="Quorum"/> of them).</summary>
internal sealed record EscalationPolicy(string? After, ApproverSet? Approvers, int? Quorum);

/// <summary>
/// A workspace's governance policy, as clients send it (<c>PUT /workspaces/{id}/policy</c>) and read it back. Every
/// field is optional on input; <see cref="PolicyRules.Normalize"/> validates it and fills the defaults, and what is
/// stored and answered is always the normalized form.
/// </summary>
internal sealed record GovernancePolicy(
    IReadOnlyDictionary<string, OperationPolicy>? Operations, string? ExpiresAfter, IReadOnlyList<double>? RemindAt, EscalationPolicy? Escalation)
{
    public OperationPolicy For(string operation) => Operations![operation];
}

/// <summary>
/// What a request keeps of its policy when it is made (editing the policy later never changes it): the operation's
/// stages, expiry, reminders and escalation.
/// </summary>
internal sealed record PolicySnapshot(string Operation, string Mode, IReadOnlyList<StagePolicy> Stages, string? ExpiresAfter, IReadOnlyList<double> RemindAt,
    EscalationPolicy? Escalation)
{
    public static PolicySnapshot Of(GovernancePolicy policy, string operation) =>
        new(operation, policy.For(operation).Mode!, policy.For(operation).Stages ?? [], policy.ExpiresAfter, policy.RemindAt ?? [], policy.Escalation);

    public string Serialize() => JsonSerializer.Serialize(this, PolicyRules.Json);

    public static PolicySnapshot Read(string json) => JsonSerializer.Deserialize<PolicySnapshot>(json, PolicyRules.Json)!;
}

/// <summary>The rules of a policy: defaults, limits and validation, in one place.</summary>
internal static class PolicyRules
{
    public const int MaxStages = 5;

    /// <summary>The operations whose requests exist: the others accept only <c>direct</c> for now.</summary>
    public static readonly string[] Governable = [GovernedOperations.Delete, GovernedOperations.Replace, GovernedOperations.Restore, GovernedOperations.LegalHoldLift];
    public const int MaxNameLength = 100;
    public const int MaxNamed = 100;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Four-eyes, as before policies: one admin other than the requester approves.</summary>
    public static StagePolicy AdminStage => new("Admins", new ApproverSet([Roles.Admin], false, [], []), 1);

    /// <summary>
    /// The tenant default every workspace starts from: deletes and replacements need one admin's approval; restore and
    /// lifting a legal hold are done at once by the admins allowed to do them; moving is done at once.
    /// </summary>
    public static GovernancePolicy Default(TimeSpan expiresAfter) => new(
        new Dictionary<string, OperationPolicy>
        {
            [GovernedOperations.Delete] = new(PolicyModes.Approval, [AdminStage]),
            [GovernedOperations.Replace] = new(PolicyModes.Approval, [AdminStage]),
            [GovernedOperations.Restore] = new(PolicyModes.Direct, []),
            [GovernedOperations.Move] = new(PolicyModes.Direct, []),
            [GovernedOperations.LegalHoldLift] = new(PolicyModes.Direct, []),
        },
        XmlConvert.ToString(expiresAfter), [], null);

    /// <summary>
    /// Validates <paramref name="input"/> and returns it complete: operations it leaves out keep the default, names and
    /// lists are trimmed and de-duplicated. 400 with every problem found, by field, otherwise.
    /// </summary>
    public static GovernancePolicy Normalize(GovernancePolicy? input, TimeSpan defaultExpiry)
    {
        var defaults = Default(defaultExpiry);
        var v = new Validator();
        v.Require(input is not null, "body", "Send the policy as JSON: {operations, expiresAfter, remindAt, escalation}.");
        v.ThrowIfInvalid();
        var operations = new Dictionary<string, OperationPolicy>();
        foreach (var key in (input!.Operations ?? new Dictionary<string, OperationPolicy>()).Keys)
        {
            v.Require(GovernedOperations.All.Contains(key), $"operations.{key}", $"Unknown operation; the operations are {string.Join(", ", GovernedOperations.All)}.");
        }
        foreach (var operation in GovernedOperations.All)
        {
            if (input.Operations is null || !input.Operations.TryGetValue(operation, out var given) || given is null)
            {
                operations[operation] = defaults.For(operation);
                continue;
            }
            operations[operation] = NormalizeOperation(v, $"operations.{operation}", given);
            // Moving documents does not exist yet (it comes with organising documents): a policy that asks for its approval
            // is refused rather than silently not applied.
            v.Require(operations[operation].Mode == PolicyModes.Direct || Governable.Contains(operation), $"operations.{operation}.mode",
                $"{operation} cannot require approval yet (only {string.Join(", ", Governable)}); it is done directly by those allowed to do it.");
        }

        var expiry = ParseDuration(v, "expiresAfter", input.ExpiresAfter ?? defaults.ExpiresAfter!);
        v.Require(expiry is null || (expiry >= TimeSpan.FromMinutes(5) && expiry <= TimeSpan.FromDays(365)), "expiresAfter",
            "expiresAfter is between 5 minutes (PT5M) and a year (P365D).");
        var remindAt = (input.RemindAt ?? []).Distinct().Order().ToList();
        v.Require(remindAt.All(f => f is > 0 and < 1), "remindAt", "remindAt holds fractions of the time to expiry, between 0 and 1 (e.g. [0.5, 0.9]).");
        v.Require(remindAt.Count <= 5, "remindAt", "At most 5 reminders.");

        EscalationPolicy? escalation = null;
        if (input.Escalation is { } given2)
        {
            var after = ParseDuration(v, "escalation.after", given2.After);
            v.Require(after is null || after >= TimeSpan.FromMinutes(1), "escalation.after", "escalation.after is at least a minute (PT1M).");
            v.Require(after is null || expiry is null || after < expiry, "escalation.after", "Escalation must come before the request expires (escalation.after < expiresAfter).");
            var approvers = NormalizeApprovers(v, "escalation.approvers", given2.Approvers);
            var quorum = given2.Quorum ?? 1;
            v.Require(quorum >= 1, "escalation.quorum", "escalation.quorum is at least 1.");
            escalation = new EscalationPolicy(after is null ? given2.After : XmlConvert.ToString(after.Value), approvers, quorum);
        }
        v.ThrowIfInvalid();
        return new GovernancePolicy(operations, XmlConvert.ToString(expiry!.Value), remindAt, escalation);
    }

    private static OperationPolicy NormalizeOperation(Validator v, string field, OperationPolicy given)
    {
        var mode = given.Mode?.Trim().ToLowerInvariant();
        v.Require(mode is PolicyModes.Direct or PolicyModes.Approval, $"{field}.mode", "mode is direct or approval.");
        if (mode != PolicyModes.Approval)
        {
            v.Require((given.Stages?.Count ?? 0) == 0, $"{field}.stages", "A direct operation has no stages.");
            return new OperationPolicy(PolicyModes.Direct, []);
        }
        var stages = given.Stages ?? [];
        v.Require(stages.Count is >= 1 and <= MaxStages, $"{field}.stages", $"An operation that needs approval has 1 to {MaxStages} stages.");
        var normalized = new List<StagePolicy>();
        for (var i = 0; i < stages.Count; i++)
        {
            var stage = stages[i];
            var at = $"{field}.stages[{i}]";
            if (stage is null)
            {
                v.Require(false, at, "A stage is an object {name, approvers, quorum}.");
                continue;
            }
            var name = string.IsNullOrWhiteSpace(stage.Name) ? $"Stage {i + 1}" : stage.Name.Trim();
            v.Require(name.Length <= MaxNameLength && !name.Any(char.IsControl), $"{at}.name", $"A stage name is at most {MaxNameLength} characters.");
            var approvers = NormalizeApprovers(v, $"{at}.approvers", stage.Approvers);
            var quorum = stage.Quorum ?? 1;
            v.Require(quorum is >= 1 and <= MaxNamed, $"{at}.quorum", $"quorum is between 1 and {MaxNamed}.");
            normalized.Add(new StagePolicy(name, approvers, quorum));
        }
        return new OperationPolicy(PolicyModes.Approval, normalized);
    }

    private static ApproverSet NormalizeApprovers(Validator v, string field, ApproverSet? given)
    {
        var roles = new List<string>();
        foreach (var role in given?.Roles ?? [])
        {
            var canonical = Platform.Security.Roles.Canonical(role);
            v.Require(canonical is Platform.Security.Roles.Admin, $"{field}.roles", "The only role that approves is Admin (name people or groups for the rest).");
            if (canonical is not null && !roles.Contains(canonical))
            {
                roles.Add(canonical);
            }
        }
        var users = (given?.Users ?? []).Distinct().ToList();
        var groups = (given?.Groups ?? []).Distinct().ToList();
        v.Require(users.Count <= MaxNamed, $"{field}.users", $"At most {MaxNamed} users.");
        v.Require(groups.Count <= MaxNamed, $"{field}.groups", $"At most {MaxNamed} groups.");
        v.Require(!users.Contains(Guid.Empty) && !groups.Contains(Guid.Empty), field, "Ids are not empty.");
        var set = new ApproverSet(roles, given?.WorkspaceManagers ?? false, users, groups);
        v.Require(!set.IsEmpty, field, "Name who approves: roles, workspaceManagers, users and/or groups.");
        return set;
    }

    private static TimeSpan? ParseDuration(Validator v, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            v.Require(false, field, $"{field} is an ISO 8601 duration, e.g. P14D or PT12H.");
            return null;
        }
        try
        {
            var span = XmlConvert.ToTimeSpan(value.Trim());
            v.Require(span > TimeSpan.Zero, field, $"{field} is a positive duration.");
            return span;
        }
        catch (FormatException)
        {
            v.Require(false, field, $"{field} is an ISO 8601 duration, e.g. P14D or PT12H.");
            return null;
        }
        catch (OverflowException)
        {
            v.Require(false, field, $"{field} is too long.");
            return null;
        }
    }

    /// <summary>Every user and group id the policy names (checked against the tenant before it is stored).</summary>
    public static (IReadOnlyList<Guid> Users, IReadOnlyList<Guid> Groups) Named(GovernancePolicy policy)
    {
        var sets = policy.Operations!.Values.SelectMany(o => o.Stages ?? []).Select(s => s.Approvers!)
            .Concat(policy.Escalation?.Approvers is { } e ? [e] : []).ToList();
        return ([.. sets.SelectMany(s => s.Users ?? []).Distinct()], [.. sets.SelectMany(s => s.Groups ?? []).Distinct()]);
    }
}
