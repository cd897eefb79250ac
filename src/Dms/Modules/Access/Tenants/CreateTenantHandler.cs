using Npgsql;

namespace Dms.Modules.Access.Tenants;

/// <summary>
/// A new tenant with its first admin and default workspace, for a platform operator. Not an
/// <see cref="Platform.UseCases.IHandler{TCommand, TResult}"/>: the operator is no user of any tenant; the endpoint
/// checks the platform key before calling this.
/// </summary>
internal sealed class CreateTenantHandler(NpgsqlDataSource dataSource, TenantProvisioning provisioning)
{
    public async Task<ProvisionedTenant> HandleAsync(NewTenant command, CancellationToken ct)
    {
        TenantProvisioning.Validate(command);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await provisioning.CreateAsync(conn, command, ct);
    }
}
