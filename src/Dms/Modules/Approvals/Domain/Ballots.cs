using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Approvals.Delegation;
using Dms.Modules.Approvals.Governance;
using Dms.Modules.Notifications;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Approvals.Domain;

/// <summary>Whose vote a caller casts: <see cref="UserId"/> (the caller, or the approver they stand in for), as a stage or an escalation approver.</summary>
internal sealed record Voter(Guid UserId, bool Escalation);

/// <summary>
/// Who decides a request, stage by stage. The people who may decide each stage are fixed when the request is made
/// (<c>approval_assignees</c>): the stage's approvers as the policy snapshot names them, enabled, without the requester.
/// A person counts once per request: whoever voted at one stage cannot vote again at another. Escalation adds its
/// fallback approvers to the current stage. All of it runs under the request's row lock, so votes and stage moves are
/// serial.
/// </summary>
internal static class Ballots
{
    /// <summary>The enabled users an approver description names, without the requester.</summary>
    public static async Task<IReadOnlyList<Guid>> ResolveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApproverSet approvers, Guid? workspaceId,
        Guid requester, CancellationToken ct) =>
        [.. (await ApproverDirectory.ResolveAsync(c, tx, tenant, approvers.Roles?.Contains(Roles.Admin) == true,
            approvers.WorkspaceManagers == true ? workspaceId : null, approvers.Users ?? [], approvers.Groups ?? [], ct)).Where(u => u != requester)];

    /// <summary>
    /// Before a request is made: every stage must have enough people other than the requester to reach its quorum, or
    /// nobody could ever decide it. 409 <c>approval.no_eligible_approvers</c> says what to do instead.
    /// </summary>
    public static async Task RequireDecidableAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, PolicySnapshot policy, Guid workspaceId,
        Guid requester, CancellationToken ct)
    {
        var counted = new HashSet<Guid>();
        for (var i = 0; i < policy.Stages.Count; i++)
        {
            var stage = policy.Stages[i];
            var people = await ResolveAsync(c, tx, tenant, stage.Approvers!, workspaceId, requester, ct);
            // Someone who approves an earlier stage cannot count again later.
            var available = people.Where(p => !counted.Contains(p)).ToList();
            if (available.Count < (stage.Quorum ?? 1))
            {
                var stageName = policy.Stages.Count > 1 ? $" at stage {i + 1} ({stage.Name})" : "";
                throw new ApiProblem(StatusCodes.Status409Conflict, "approval.no_eligible_approvers", "Nobody else can approve this request.",
                    $"This workspace's policy needs {stage.Quorum} approval(s){stageName}, and only {available.Count} person(s) other than you can give them. "
                    + "Ask an admin to add an approver (a user or a group in the policy), or to change the workspace's policy so this operation is done directly.");
            }
            foreach (var person in available.Take(stage.Quorum ?? 1))
            {
                counted.Add(person);
            }
        }
    }

    /// <summary>
    /// A new request: records who may decide each stage (so later stages' approvers can follow it, and group changes
    /// after the request is made do not change who decides it) and tells the first stage's approvers.
    /// </summary>
    public static async Task AssignAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, DateTime now, CancellationToken ct)
    {
        var policy = request.Snapshot;
        for (var stage = 0; stage < policy.Stages.Count; stage++)
        {
            var people = await ResolveAsync(c, tx, tenant, policy.Stages[stage].Approvers!, request.WorkspaceId, request.RequestedBy, ct);
            await AssignAsync(c, tx, tenant, request, stage, people, escalation: false, now, notify: stage == 0, ct);
        }
    }

    /// <summary>A stage starts: its approvers who have not voted yet on the request are told (and their delegates).</summary>
    private static async Task StartStageAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, DateTime now, CancellationToken ct)
    {
        var waiting = await WaitingAsync(c, tx, tenant, request, ct);
        await NotifyAsync(c, tx, tenant, request, waiting, request.Stage, escalation: false, now, ct);
    }

    /// <summary>Escalation: the fallback approvers may decide the current stage too.</summary>
    public static async Task<IReadOnlyList<Guid>> EscalateAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, DateTime now,
        CancellationToken ct)
    {
        var escalation = request.Snapshot.Escalation!;
        var people = await ResolveAsync(c, tx, tenant, escalation.Approvers!, request.WorkspaceId, request.RequestedBy, ct);
        return await AssignAsync(c, tx, tenant, request, request.Stage, people, escalation: true, now, notify: true, ct);
    }

    private static async Task<IReadOnlyList<Guid>> AssignAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, int stage,
        IReadOnlyList<Guid> people, bool escalation, DateTime now, bool notify, CancellationToken ct)
    {
        var assigned = (await c.QueryAsync<Guid>(new CommandDefinition("""
            INSERT INTO approval_assignees (tenant_id, approval_id, stage, user_id, escalation)
            SELECT @tenant, @id, @stage, p, @escalation FROM unnest(@people) AS p
            WHERE NOT EXISTS (SELECT 1 FROM approval_votes v WHERE v.tenant_id = @tenant AND v.approval_id = @id AND v.user_id = p)
            ON CONFLICT DO NOTHING
            RETURNING user_id
            """, new { tenant, id = request.Id, stage, people = people.ToArray(), escalation }, tx, cancellationToken: ct))).ToList();
        if (notify)
        {
            await NotifyAsync(c, tx, tenant, request, assigned, stage, escalation, now, ct);
        }
        return assigned;
    }

    private static async Task NotifyAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, IReadOnlyList<Guid> people, int stage,
        bool escalation, DateTime now, CancellationToken ct)
    {
        var policy = request.Snapshot;
        var stageText = policy.Stages.Count > 1 ? $" (stage {stage + 1} of {policy.Stages.Count}: {policy.Stages[stage].Name})" : "";
        var title = escalation
            ? $"Escalated: {request.Type.Noun().ToLowerInvariant()} requested for {Notify.Document}"
            : $"{request.Type.Noun()} requested for {Notify.Document}";
        var body = $"Your decision is needed{stageText}: {request.Reason}";
        await Notify.UsersAsync(c, tx, tenant, request, people, "approval.requested", title, body, ct);
        var delegates = await Delegations.DelegatesOfAsync(c, tx, tenant, people, now, ct);
        await Notify.UsersAsync(c, tx, tenant, request, [.. delegates.Select(d => d.Delegate).Where(d => d != request.RequestedBy).Distinct()],
            "approval.requested", title, $"You decide in place of a colleague who delegated to you{stageText}: {request.Reason}", ct);
    }

    /// <summary>Reminds the current stage's approvers who have not voted yet (and their delegates).</summary>
    public static async Task RemindAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, DateTime now, CancellationToken ct)
    {
        var waiting = await WaitingAsync(c, tx, tenant, request, ct);
        var delegates = await Delegations.DelegatesOfAsync(c, tx, tenant, waiting, now, ct);
        var title = $"Reminder: {request.Type.Noun().ToLowerInvariant()} requested for {Notify.Document}";
        var body = $"Still waiting for your decision; the request expires {request.ExpiresAt:yyyy-MM-dd HH:mm} UTC. {request.Reason}";
        await Notify.UsersAsync(c, tx, tenant, request, [.. waiting.Concat(delegates.Select(d => d.Delegate)).Where(d => d != request.RequestedBy).Distinct()],
            "approval.reminder", title, body, ct);
    }

    /// <summary>The current stage's approvers who have not voted on the request.</summary>
    private static async Task<IReadOnlyList<Guid>> WaitingAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, CancellationToken ct) =>
        (await c.QueryAsync<Guid>(new CommandDefinition("""
            SELECT a.user_id FROM approval_assignees a
            WHERE a.tenant_id = @tenant AND a.approval_id = @id AND a.stage = @stage
              AND NOT EXISTS (SELECT 1 FROM approval_votes v WHERE v.tenant_id = a.tenant_id AND v.approval_id = a.approval_id AND v.user_id = a.user_id)
            ORDER BY a.user_id
            """, new { tenant, id = request.Id, stage = request.Stage }, tx, cancellationToken: ct))).ToList();

    /// <summary>
    /// Whose vote the caller casts on <paramref name="request"/>'s current stage: their own if they are an approver of it
    /// and have not voted, else that of an approver who delegated to them and has not voted (<paramref name="onBehalfOf"/>
    /// picks which). The requester never votes, not even as someone's delegate.
    /// </summary>
    public static async Task<Voter> VoterAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, ApprovalRow request, Guid? onBehalfOf, DateTime now,
        CancellationToken ct)
    {
        if (request.RequestedBy == me.UserId)
        {
            throw ApiProblem.Forbidden("approval.self_decision", "Nobody decides their own request, not even in someone else's name.");
        }
        var all = (await c.QueryAsync<(Guid UserId, int Stage, bool Escalation)>(new CommandDefinition(
            "SELECT user_id, stage, escalation FROM approval_assignees WHERE tenant_id = @tenant AND approval_id = @id",
            new { tenant = me.TenantId, id = request.Id }, tx, cancellationToken: ct))).ToList();
        var assignees = all.Where(a => a.Stage == request.Stage).ToDictionary(a => a.UserId, a => a.Escalation);
        var voted = (await c.QueryAsync<Guid>(new CommandDefinition(
            "SELECT user_id FROM approval_votes WHERE tenant_id = @tenant AND approval_id = @id",
            new { tenant = me.TenantId, id = request.Id }, tx, cancellationToken: ct))).ToHashSet();
        var delegators = await Delegations.DelegatorsOfAsync(c, tx, me.TenantId, me.UserId, now, ct);

        if (onBehalfOf is { } principal && principal != me.UserId)
        {
            if (!delegators.Contains(principal))
            {
                throw ApiProblem.Forbidden("approval.not_delegated", "That approver has not delegated their decisions to you (or not for now).");
            }
            if (!assignees.TryGetValue(principal, out var escalation))
            {
                throw ApiProblem.Forbidden("approval.not_an_approver", "The person you stand in for does not decide this stage of the request.");
            }
            return voted.Contains(principal) ? throw AlreadyVoted() : new Voter(principal, escalation);
        }
        if (assignees.TryGetValue(me.UserId, out var mine) && !voted.Contains(me.UserId))
        {
            return new Voter(me.UserId, mine);
        }
        var standIn = delegators.FirstOrDefault(d => assignees.ContainsKey(d) && !voted.Contains(d));
        if (standIn != Guid.Empty)
        {
            return new Voter(standIn, assignees[standIn]);
        }
        if (voted.Contains(me.UserId) || delegators.Any(assignees.ContainsKey))
        {
            throw AlreadyVoted();
        }
        // An approver of a later stage is told to wait rather than that they are nobody.
        var later = all.Where(a => a.Stage > request.Stage && (a.UserId == me.UserId || delegators.Contains(a.UserId))).Select(a => (int?)a.Stage).Min();
        if (later is { } stage)
        {
            throw ApiProblem.Conflict("approval.stage_not_reached",
                $"You decide stage {stage + 1} ({request.Snapshot.Stages[stage].Name}); the request is at stage {request.Stage + 1}, which others decide first.");
        }
        throw ApiProblem.Forbidden("approval.not_an_approver", "You are not among the approvers of this request's current stage.");
    }

    private static ApiProblem AlreadyVoted() =>
        ApiProblem.Conflict("approval.already_voted", "You already voted on this request (one person counts once, whatever groups they are in).");

    /// <summary>Records a vote; false when that person already voted (the primary key is the final word).</summary>
    public static async Task<bool> CastAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, Voter voter, Guid castBy, bool approve,
        string? comment, CancellationToken ct) =>
        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO approval_votes (tenant_id, approval_id, user_id, cast_by, stage, decision, comment, escalation)
            VALUES (@tenant, @id, @user, @castBy, @stage, @decision, @comment, @escalation)
            ON CONFLICT DO NOTHING
            """, new
        {
            tenant,
            id = request.Id,
            user = voter.UserId,
            castBy,
            stage = request.Stage,
            decision = approve ? "Approve" : "Reject",
            comment,
            escalation = voter.Escalation,
        }, tx, cancellationToken: ct)) == 1;

    /// <summary>Whether the current stage has its approvals: its quorum of stage approvers, or the escalation's quorum of fallback approvers.</summary>
    public static async Task<bool> StageDoneAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, CancellationToken ct)
    {
        var (regular, escalated) = await c.QuerySingleAsync<(int, int)>(new CommandDefinition("""
            SELECT count(*) FILTER (WHERE NOT escalation)::int, count(*) FILTER (WHERE escalation)::int FROM approval_votes
            WHERE tenant_id = @tenant AND approval_id = @id AND stage = @stage AND decision = 'Approve'
            """, new { tenant, id = request.Id, stage = request.Stage }, tx, cancellationToken: ct));
        var policy = request.Snapshot;
        return regular >= (policy.Stages[request.Stage].Quorum ?? 1) || (policy.Escalation is { } e && escalated >= (e.Quorum ?? 1));
    }

    /// <summary>Moves the request to its next stage (the caller checked there is one).</summary>
    public static async Task<ApprovalRow> AdvanceAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, DateTime now, CancellationToken ct)
    {
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE approval_requests SET stage = stage + 1, stage_started_at = @now, escalated_at = NULL
            WHERE tenant_id = @tenant AND id = @id AND stage = @stage
            """, new { tenant, id = request.Id, stage = request.Stage, now }, tx, cancellationToken: ct));
        var moved = (await ApprovalRequests.GetAsync(c, tx, tenant, request.Id, forUpdate: false, ct))!;
        await StartStageAsync(c, tx, tenant, moved, now, ct);
        return moved;
    }

    /// <summary>Whether the caller may see the request: admins, the requester, its approvers (any stage) and their current delegates.</summary>
    public static async Task<bool> CanSeeAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, ApprovalRow request, DateTime now, CancellationToken ct) =>
        me.IsAdmin || request.RequestedBy == me.UserId || await c.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM approval_assignees a
                           WHERE a.tenant_id = @tenant AND a.approval_id = @id
                             AND (a.user_id = @me OR a.user_id IN (SELECT d.user_id FROM approval_delegations d
                                                                  WHERE d.tenant_id = @tenant AND d.delegate_user_id = @me
                                                                    AND d.starts_at <= @now AND d.ends_at > @now)))
            """, new { tenant = me.TenantId, id = request.Id, me = me.UserId, now }, tx, cancellationToken: ct));

    /// <summary>
    /// Votes and the current stage's approvers of a page of requests, in three queries whatever its length (the approvals
    /// page); the policy snapshot is left out (one request's details carry it).
    /// </summary>
    public static async Task<IReadOnlyDictionary<Guid, ApprovalResponse>> DetailsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        IReadOnlyList<ApprovalResponse> requests, CancellationToken ct)
    {
        var ids = requests.Select(r => r.Id).ToArray();
        var votes = (await c.QueryAsync<(Guid ApprovalId, Guid UserId, Guid CastBy, int Stage, string Decision, string? Comment, bool Escalation, DateTime CreatedAt)>(
            new CommandDefinition("""
                SELECT approval_id, user_id, cast_by, stage, decision, comment, escalation, created_at FROM approval_votes
                WHERE tenant_id = @tenant AND approval_id = ANY(@ids) ORDER BY created_at, user_id
                """, new { tenant, ids }, tx, cancellationToken: ct))).ToLookup(v => v.ApprovalId);
        var assignees = (await c.QueryAsync<(Guid ApprovalId, int Stage, Guid UserId, bool Escalation)>(new CommandDefinition(
            "SELECT approval_id, stage, user_id, escalation FROM approval_assignees WHERE tenant_id = @tenant AND approval_id = ANY(@ids) ORDER BY created_at, user_id",
            new { tenant, ids }, tx, cancellationToken: ct))).ToLookup(a => a.ApprovalId);
        var names = (await UserDirectory.NamesAsync(c, tx, tenant, [.. assignees.SelectMany(g => g).Select(a => a.UserId).Distinct()], ct))
            .ToDictionary(n => n.Id, n => n.Name);
        return requests.ToDictionary(r => r.Id, r =>
        {
            var voted = votes[r.Id].Select(v => v.UserId).ToHashSet();
            return r with
            {
                Votes = [.. votes[r.Id].Select(v => new VoteResponse(v.CastBy, v.Decision, v.CreatedAt, v.Comment, v.CastBy == v.UserId ? null : v.UserId, v.Stage, v.Escalation))],
                EligibleApprovers = r.Status != ApprovalStatus.Pending ? []
                    : [.. assignees[r.Id].Where(a => a.Stage == (r.Stage?.Index ?? 0))
                        .Select(a => new EligibleApprover(a.UserId, names.GetValueOrDefault(a.UserId), a.Escalation, voted.Contains(a.UserId)))],
            };
        });
    }

    /// <summary>The votes, the current stage's approvers and the snapshot, for one request's details.</summary>
    public static async Task<ApprovalResponse> DetailsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, CancellationToken ct) =>
        (await DetailsAsync(c, tx, tenant, [request.ToResponse()], ct))[request.Id] with { Policy = request.Snapshot };
}
