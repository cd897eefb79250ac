using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Access.Me;

internal sealed record MeResponse(Guid Id, string Email, string DisplayName, string Role, MeTenant Tenant);

internal sealed record MeTenant(Guid Id, string Slug, string Name);

/// <summary>Who the caller is: their account and tenant as stored now.</summary>
internal sealed record GetMe;

internal sealed class GetMeHandler(Db db) : IHandler<GetMe, MeResponse>
{
    private sealed record Row(Guid Id, string Email, string DisplayName, string Role, Guid TenantId, string Slug, string Name);

    public async Task<MeResponse> HandleAsync(GetMe query, CurrentUser me, CancellationToken ct)
    {
        var row = await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition("""
            SELECT u.id, u.email, u.display_name, u.role, t.id AS tenant_id, t.slug, t.name
            FROM users u JOIN tenants t ON t.id = u.tenant_id
            WHERE u.tenant_id = @tenant AND u.id = @user
            """, new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct)
            ?? throw ApiProblem.NotFound("user");
        return new MeResponse(row.Id, row.Email, row.DisplayName, row.Role, new MeTenant(row.TenantId, row.Slug, row.Name));
    }
}
