using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Workspaces;

internal sealed record CreateWorkspaceRequest(string Name, string? Description);

internal sealed record WorkspaceResponse(Guid Id, string Name, string? Description, bool IsDefault, DateTime CreatedAt);

/// <summary><c>/api/v1/workspaces</c>: department or project scopes. Every tenant has a default one.</summary>
internal static class WorkspaceEndpoints
{
    private const string Columns = "id, name, description, is_default, created_at";

    public static async Task<IResult> List(HttpContext http, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var items = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<WorkspaceResponse>(new CommandDefinition(
            $"SELECT {Columns} FROM workspaces WHERE tenant_id = @tenant AND {WorkspaceAccess.Readable("id")} ORDER BY is_default DESC, lower(name)",
            Scoped(me, new { tenant = me.TenantId }), tx, cancellationToken: ct)), ct);
        return Results.Ok(new { items });
    }

    public static async Task<IResult> Get(HttpContext http, string id, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var workspaceId = RouteIds.Parse(id);
        var workspace = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<WorkspaceResponse>(new CommandDefinition(
            $"SELECT {Columns} FROM workspaces WHERE tenant_id = @tenant AND id = @workspaceId AND {WorkspaceAccess.Readable("id")}",
            Scoped(me, new { tenant = me.TenantId, workspaceId }), tx, cancellationToken: ct)), ct);
        return workspace is null ? throw ApiProblem.NotFound("workspace") : Results.Ok(workspace);
    }

    private static DynamicParameters Scoped(CurrentUser me, object parameters)
    {
        var p = new DynamicParameters(parameters);
        p.AddDynamicParams(WorkspaceAccess.Parameters(me));
        return p;
    }

    public static async Task<IResult> Create(HttpContext http, CreateWorkspaceRequest body, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        new Validator()
            .Require(AccountRules.IsValidName(body.Name, 200), "name", "name is required (1-200 characters, no control characters).")
            .Require(body.Description is null || (body.Description.Length <= 2000 && !body.Description.Contains('\0', StringComparison.Ordinal)), "description", "description is at most 2000 characters.")
            .ThrowIfInvalid();
        var workspace = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var created = await c.QuerySingleOrDefaultAsync<WorkspaceResponse>(new CommandDefinition($"""
            INSERT INTO workspaces (id, tenant_id, name, description, created_by)
            VALUES (@id, @tenant, @name, @description, @user)
            ON CONFLICT (tenant_id, lower(name)) DO NOTHING
            RETURNING {Columns}
            """, new { id = Guid.CreateVersion7(), tenant = me.TenantId, name = body.Name.Trim(), body.Description, user = me.UserId }, tx, cancellationToken: ct));
            if (created is not null)
            {
                await audit.RecordAsync(c, tx, "workspace.created", "workspace", created.Id, new { created.Name }, ct: ct);
            }
            return created;
        }, ct)
            ?? throw ApiProblem.Conflict("workspace.name_taken", "A workspace with this name already exists.");
        return Results.Created($"/api/v1/workspaces/{workspace.Id}", workspace);
    }
}
