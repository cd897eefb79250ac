using System.Globalization;
using System.Text.Json;
using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Approvals.Governance;

/// <summary>A workspace's policy as the API shows it: the policy itself and whether it is still the tenant default.</summary>
internal sealed record PolicyResponse(Guid WorkspaceId, bool IsDefault, int Revision, DateTime? UpdatedAt, Guid? UpdatedBy,
    IReadOnlyDictionary<string, OperationPolicy> Operations, string ExpiresAfter, IReadOnlyList<double> RemindAt, EscalationPolicy? Escalation);

/// <summary>Reads and stores <c>workspace_policies</c>; a workspace without a row has the tenant default.</summary>
internal static class WorkspacePolicies
{
    private sealed record Row(string Policy, int Revision, DateTime UpdatedAt, Guid? UpdatedBy);

    public static async Task<PolicyResponse> GetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid workspaceId, TimeSpan defaultExpiry,
        CancellationToken ct)
    {
        var row = await c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            "SELECT policy::text AS Policy, revision, updated_at, updated_by FROM workspace_policies WHERE tenant_id = @tenant AND workspace_id = @workspaceId",
            new { tenant, workspaceId }, tx, cancellationToken: ct));
        if (row is null)
        {
            return Respond(workspaceId, PolicyRules.Default(defaultExpiry), true, 0, null, null);
        }
        // Stored policies were normalized when saved; normalizing again fills operations added since.
        var stored = JsonSerializer.Deserialize<GovernancePolicy>(row.Policy, PolicyRules.Json);
        return Respond(workspaceId, PolicyRules.Normalize(stored, defaultExpiry), false, row.Revision, row.UpdatedAt, row.UpdatedBy);
    }

    public static PolicyResponse Respond(Guid workspaceId, GovernancePolicy policy, bool isDefault, int revision, DateTime? updatedAt, Guid? updatedBy) =>
        new(workspaceId, isDefault, revision, updatedAt, updatedBy, policy.Operations!, policy.ExpiresAfter!, policy.RemindAt!, policy.Escalation);

    public static GovernancePolicy ToPolicy(this PolicyResponse response) =>
        new(response.Operations, response.ExpiresAfter, response.RemindAt, response.Escalation);

    /// <summary>The snapshot a new request on a document in <paramref name="workspaceId"/> takes for <paramref name="operation"/>.</summary>
    public static async Task<PolicySnapshot> SnapshotAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid workspaceId, string operation,
        TimeSpan defaultExpiry, CancellationToken ct) =>
        PolicySnapshot.Of((await GetAsync(c, tx, tenant, workspaceId, defaultExpiry, ct)).ToPolicy(), operation);

    /// <summary>
    /// Stores a normalized policy unless <paramref name="ifRevision"/> is given and no longer current (then false): 0 means
    /// "still the default", any other number the revision read.
    /// </summary>
    public static async Task<bool> SaveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid workspaceId, GovernancePolicy policy, Guid by,
        int? ifRevision, CancellationToken ct)
    {
        var sql = ifRevision switch
        {
            null => """
                INSERT INTO workspace_policies AS p (tenant_id, workspace_id, policy, updated_by) VALUES (@tenant, @workspaceId, @policy::jsonb, @by)
                ON CONFLICT (tenant_id, workspace_id) DO UPDATE
                  SET policy = excluded.policy, revision = p.revision + 1, updated_at = now(), updated_by = excluded.updated_by
                """,
            0 => """
                INSERT INTO workspace_policies (tenant_id, workspace_id, policy, updated_by) VALUES (@tenant, @workspaceId, @policy::jsonb, @by)
                ON CONFLICT (tenant_id, workspace_id) DO NOTHING
                """,
            _ => """
                UPDATE workspace_policies SET policy = @policy::jsonb, revision = revision + 1, updated_at = now(), updated_by = @by
                WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND revision = @ifRevision
                """,
        };
        return await c.ExecuteAsync(new CommandDefinition(sql,
            new { tenant, workspaceId, policy = JsonSerializer.Serialize(policy, PolicyRules.Json), by, ifRevision }, tx, cancellationToken: ct)) == 1;
    }

    /// <summary>The workspace goes back to the tenant default.</summary>
    public static Task<int> ResetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid workspaceId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("DELETE FROM workspace_policies WHERE tenant_id = @tenant AND workspace_id = @workspaceId",
            new { tenant, workspaceId }, tx, cancellationToken: ct));

    /// <summary>Tenant admins and the workspace's managers edit its policy; readers of the workspace see it; others get 404.</summary>
    public static async Task RequireEditorAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid workspaceId, CancellationToken ct)
    {
        await WorkspaceAccess.RequireAsync(c, tx, me, workspaceId, WorkspaceAction.Read, "workspace", ct);
        if (!me.IsAdmin && !Permissions.Allows(me.Role, await WorkspaceAccess.RoleInAsync(c, tx, me, workspaceId, ct), WorkspaceAction.ManageMembers))
        {
            throw ApiProblem.Forbidden("policy.forbidden", "Only tenant admins and the workspace's managers change its policy.");
        }
    }

    public static string ETag(int revision) => $"\"{revision.ToString(CultureInfo.InvariantCulture)}\"";
}

/// <summary>A workspace's governance policy.</summary>
internal sealed record GetWorkspacePolicy(Guid WorkspaceId);

internal sealed class GetWorkspacePolicyHandler(Db db, IOptions<DmsOptions> options) : IHandler<GetWorkspacePolicy, PolicyResponse>
{
    public Task<PolicyResponse> HandleAsync(GetWorkspacePolicy query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireAsync(c, tx, me, query.WorkspaceId, WorkspaceAction.Read, "workspace", ct);
            return await WorkspacePolicies.GetAsync(c, tx, me.TenantId, query.WorkspaceId, options.Value.Approvals.PendingTtl, ct);
        }, ct);
}

/// <summary>
/// Replaces a workspace's policy (operations left out keep the default). Open requests keep the policy they were made
/// under. <paramref name="IfRevision"/> (from <c>If-Match</c>) refuses a save over someone else's edit.
/// </summary>
internal sealed record SetWorkspacePolicy(Guid WorkspaceId, GovernancePolicy? Policy, int? IfRevision);

internal sealed class SetWorkspacePolicyHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options) : IHandler<SetWorkspacePolicy, PolicyResponse>
{
    public Task<PolicyResponse> HandleAsync(SetWorkspacePolicy command, CurrentUser me, CancellationToken ct)
    {
        var defaultExpiry = options.Value.Approvals.PendingTtl;
        var policy = PolicyRules.Normalize(command.Policy, defaultExpiry);
        return db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspacePolicies.RequireEditorAsync(c, tx, me, command.WorkspaceId, ct);
            var (users, groups) = PolicyRules.Named(policy);
            var (missingUsers, missingGroups) = await ApproverDirectory.MissingAsync(c, tx, me.TenantId, users, groups, ct);
            if (missingUsers.Count + missingGroups.Count > 0)
            {
                throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "policy.unknown_approver", "The policy names someone who does not exist.",
                    $"Unknown {(missingUsers.Count > 0 ? $"users: {string.Join(", ", missingUsers)}" : "")}"
                    + $"{(missingUsers.Count > 0 && missingGroups.Count > 0 ? "; " : "")}{(missingGroups.Count > 0 ? $"groups: {string.Join(", ", missingGroups)}" : "")}.");
            }
            if (!await WorkspacePolicies.SaveAsync(c, tx, me.TenantId, command.WorkspaceId, policy, me.UserId, command.IfRevision, ct))
            {
                throw new ApiProblem(StatusCodes.Status412PreconditionFailed, "policy.changed",
                    "The policy was changed by someone else since you read it; reload it and apply your change again.");
            }
            await audit.RecordAsync(c, tx, "policy.updated", "workspace", command.WorkspaceId, policy, ct: ct);
            return await WorkspacePolicies.GetAsync(c, tx, me.TenantId, command.WorkspaceId, defaultExpiry, ct);
        }, ct);
    }
}

/// <summary>The workspace goes back to the tenant default policy.</summary>
internal sealed record ResetWorkspacePolicy(Guid WorkspaceId);

internal sealed class ResetWorkspacePolicyHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options) : IHandler<ResetWorkspacePolicy, PolicyResponse>
{
    public Task<PolicyResponse> HandleAsync(ResetWorkspacePolicy command, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspacePolicies.RequireEditorAsync(c, tx, me, command.WorkspaceId, ct);
            if (await WorkspacePolicies.ResetAsync(c, tx, me.TenantId, command.WorkspaceId, ct) > 0)
            {
                await audit.RecordAsync(c, tx, "policy.reset", "workspace", command.WorkspaceId, null, ct: ct);
            }
            return await WorkspacePolicies.GetAsync(c, tx, me.TenantId, command.WorkspaceId, options.Value.Approvals.PendingTtl, ct);
        }, ct);
}
