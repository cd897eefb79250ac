using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;

namespace Dms.Modules.Access.Me;

internal sealed record MeResponse(Guid Id, string Email, string DisplayName, string Role, MeTenant Tenant);

internal sealed record MeTenant(Guid Id, string Slug, string Name);

/// <summary><c>GET /api/v1/me</c>: who the token belongs to.</summary>
internal static class MeEndpoint
{
    private sealed record Row(Guid Id, string Email, string DisplayName, string Role, Guid TenantId, string Slug, string Name);

    public static async Task<IResult> Handle(HttpContext http, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var row = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition("""
            SELECT u.id, u.email, u.display_name, u.role, t.id AS tenant_id, t.slug, t.name
            FROM users u JOIN tenants t ON t.id = u.tenant_id
            WHERE u.tenant_id = @tenant AND u.id = @user
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct)
            ?? throw ApiProblem.NotFound("user");
        return Results.Ok(new MeResponse(row.Id, row.Email, row.DisplayName, row.Role, new MeTenant(row.TenantId, row.Slug, row.Name)));
    }
}
