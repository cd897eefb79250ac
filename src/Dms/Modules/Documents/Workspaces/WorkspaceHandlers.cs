using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Workspaces;

internal static class WorkspaceRows
{
    public const string Columns = "id, name, description, is_default, created_at";

    /// <summary>Parameters of a query filtered by <see cref="WorkspaceAccess.Readable"/>.</summary>
    public static DynamicParameters Scoped(CurrentUser me, object parameters)
    {
        var p = new DynamicParameters(parameters);
        p.AddDynamicParams(WorkspaceAccess.Parameters(me));
        return p;
    }
}

internal sealed record ListWorkspaces;

/// <summary>The workspaces the caller can read, the default one first.</summary>
internal sealed class ListWorkspacesHandler(Db db) : IHandler<ListWorkspaces, IReadOnlyList<WorkspaceResponse>>
{
    public async Task<IReadOnlyList<WorkspaceResponse>> HandleAsync(ListWorkspaces query, CurrentUser me, CancellationToken ct) =>
        (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<WorkspaceResponse>(new CommandDefinition(
            $"SELECT {WorkspaceRows.Columns} FROM workspaces WHERE tenant_id = @tenant AND {WorkspaceAccess.Readable("id")} ORDER BY is_default DESC, lower(name)",
            WorkspaceRows.Scoped(me, new { tenant = me.TenantId }), tx, cancellationToken: ct)), ct)).ToList();
}

internal sealed record GetWorkspace(Guid WorkspaceId);

internal sealed class GetWorkspaceHandler(Db db) : IHandler<GetWorkspace, WorkspaceResponse>
{
    public async Task<WorkspaceResponse> HandleAsync(GetWorkspace query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<WorkspaceResponse>(new CommandDefinition(
            $"SELECT {WorkspaceRows.Columns} FROM workspaces WHERE tenant_id = @tenant AND id = @workspaceId AND {WorkspaceAccess.Readable("id")}",
            WorkspaceRows.Scoped(me, new { tenant = me.TenantId, query.WorkspaceId }), tx, cancellationToken: ct)), ct)
        ?? throw ApiProblem.NotFound("workspace");
}

internal sealed record CreateWorkspace(string? Name, string? Description);

internal sealed class CreateWorkspaceHandler(Db db, AuditTrail audit) : IHandler<CreateWorkspace, WorkspaceResponse>
{
    private const int MaxName = 200;

    public async Task<WorkspaceResponse> HandleAsync(CreateWorkspace command, CurrentUser me, CancellationToken ct)
    {
        new Validator()
            .Require(command.Name is not null && command.Name.Trim().Length is >= 1 and <= MaxName && !command.Name.Any(char.IsControl),
                "name", $"name is required (1-{MaxName} characters, no control characters).")
            .Require(command.Description is null || (command.Description.Length <= 2000 && !command.Description.Contains('\0', StringComparison.Ordinal)),
                "description", "description is at most 2000 characters.")
            .ThrowIfInvalid();
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var created = await c.QuerySingleOrDefaultAsync<WorkspaceResponse>(new CommandDefinition($"""
                INSERT INTO workspaces (id, tenant_id, name, description, created_by)
                VALUES (@id, @tenant, @name, @description, @user)
                ON CONFLICT (tenant_id, lower(name)) DO NOTHING
                RETURNING {WorkspaceRows.Columns}
                """, new { id = Guid.CreateVersion7(), tenant = me.TenantId, name = command.Name!.Trim(), command.Description, user = me.UserId }, tx, cancellationToken: ct));
            if (created is not null)
            {
                await audit.RecordAsync(c, tx, "workspace.created", "workspace", created.Id, new { created.Name }, ct: ct);
            }
            return created;
        }, ct)
            ?? throw ApiProblem.Conflict("workspace.name_taken", "A workspace with this name already exists.");
    }
}
