using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Dms.Modules.Access.Tenants;

/// <param name="AdminMustChangePassword">The first admin replaces the password at first sign-in (a generated one).</param>
internal sealed record NewTenant(string Slug, string Name, string AdminEmail, string AdminPassword, bool AdminMustChangePassword = false);

internal sealed record ProvisionedTenant(Guid Id, string Slug, string Name, Guid AdminUserId, Guid DefaultWorkspaceId);

/// <summary>
/// Creates a tenant with its first admin and its default workspace in one transaction. Used by the
/// platform endpoint, the CLI verb and the first-start bootstrap.
/// </summary>
internal sealed class TenantProvisioning(IPasswordHasher<UserAccount> hasher)
{
    public static void Validate(NewTenant request)
    {
        var v = new Validator();
        v.Require(AccountRules.IsValidSlug(request.Slug), "slug", "slug must be 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit.");
        v.Require(AccountRules.IsValidName(request.Name, 200), "name", "name is required (at most 200 characters).");
        AccountRules.ValidateNewAccount(v, request.AdminEmail, request.AdminPassword, "adminEmail", "adminPassword");
        v.ThrowIfInvalid();
    }

    /// <summary>Runs on a connection of any role allowed to insert tenants (runtime or owner).</summary>
    public async Task<ProvisionedTenant> CreateAsync(NpgsqlConnection conn, NewTenant request, CancellationToken ct)
    {
        Validate(request);
        var tenantId = Guid.CreateVersion7();
        var adminId = Guid.CreateVersion7();
        var workspaceId = Guid.CreateVersion7();
        var email = request.AdminEmail.Trim();
        var name = request.Name.Trim();
        var passwordHash = hasher.HashPassword(new UserAccount(adminId, tenantId), request.AdminPassword);

        await using var tx = await conn.BeginTransactionAsync(ct);
        var inserted = await conn.ExecuteAsync(new CommandDefinition(
            "INSERT INTO tenants (id, slug, name) VALUES (@tenantId, @slug, @name) ON CONFLICT (slug) DO NOTHING",
            new { tenantId, slug = request.Slug, name }, tx, cancellationToken: ct));
        if (inserted == 0)
        {
            throw ApiProblem.Conflict("tenant.slug_taken", $"A tenant with slug '{request.Slug}' already exists.");
        }
        await Db.EnterTenantAsync(conn, tx, tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO users (id, tenant_id, email, email_normalized, display_name, password_hash, role, must_change_password)
            VALUES (@adminId, @tenantId, @email, @normalized, @displayName, @passwordHash, @role, @mustChange)
            """,
            new
            {
                tenantId,
                adminId,
                email,
                normalized = AccountRules.NormalizeEmail(email),
                displayName = email.Split('@')[0],
                passwordHash,
                role = Roles.Admin,
                mustChange = request.AdminMustChangePassword,
            }, tx, cancellationToken: ct));
        await WorkspaceDirectory.CreateDefaultAsync(conn, tx, tenantId, workspaceId, createdBy: adminId, ct);
        // The platform acts here (an operator's key, the CLI or the first start), not a client of this tenant.
        await AuditTrail.RecordDetachedAsync(conn, tx, new AuditActor("system", null, "platform"), "tenant.created", "tenant", tenantId,
            new { slug = request.Slug, name, adminEmail = email, adminUserId = adminId }, ct);
        await tx.CommitAsync(ct);
        return new ProvisionedTenant(tenantId, request.Slug, name, adminId, workspaceId);
    }
}

/// <summary>The type <see cref="PasswordHasher{TUser}"/> is keyed on; it only needs an identity.</summary>
internal sealed record UserAccount(Guid Id, Guid TenantId);
