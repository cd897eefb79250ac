using System.Security.Cryptography;
using Dapper;
using Dms.Platform.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Access.Tenants;

/// <summary>
/// First start with an empty database: create the bootstrap tenant and its admin. Runs under the
/// migration lock, so of several nodes starting together exactly one does it.
/// </summary>
internal sealed class Bootstrap(TenantProvisioning provisioning, IOptions<DmsOptions> options, ILogger<Bootstrap> logger)
{
    public async Task RunAsync(NpgsqlConnection ownerConnection)
    {
        if (await ownerConnection.ExecuteScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM tenants)"))
        {
            return;
        }
        var settings = options.Value.Bootstrap;
        var generated = string.IsNullOrEmpty(settings.AdminPassword);
        var password = generated ? GeneratePassword() : settings.AdminPassword!;
        var tenant = await provisioning.CreateAsync(ownerConnection,
            new NewTenant(settings.Tenant, settings.Tenant, settings.AdminEmail, password, AdminMustChangePassword: generated), CancellationToken.None);
        logger.LogInformation("Bootstrap tenant {Tenant} created with admin {AdminEmail}", tenant.Slug, settings.AdminEmail);
        if (generated)
        {
            // A password printed on a console is not one to keep: the admin replaces it at first sign-in (set above).
            // Shown once, on the console only: the password is never written to the logs.
            Console.Out.WriteLine($"""

                ================================================================
                 DMS Enterprise first start: tenant '{tenant.Slug}' created.
                 Admin e-mail:    {settings.AdminEmail}
                 Admin password:  {password}
                 This password is shown only once; you will choose your own at first sign-in.
                ================================================================

                """);
            Console.Out.Flush();
        }
    }

    private static string GeneratePassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return new string(Enumerable.Range(0, 20).Select(_ => alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]).ToArray());
    }
}
