using Dapper;
using Dms.Modules.Access.Domain;
using Dms.Platform.Database;

namespace Dms.Modules.Access;

/// <summary>Tenants by slug, for callers that name a tenant from outside (the platform operator, a billing provider).</summary>
internal static class TenantDirectory
{
    /// <summary>The tenant's id, or null when no tenant has this slug (or it cannot be one).</summary>
    public static async Task<Guid?> IdBySlugAsync(Db db, string? slug, CancellationToken ct)
    {
        var normalized = slug?.Trim().ToLowerInvariant() ?? "";
        if (!AccountRules.IsValidSlug(normalized))
        {
            return null;
        }
        return await db.WithoutTenantAsync(c => c.QuerySingleOrDefaultAsync<Guid?>(
            new CommandDefinition("SELECT id FROM tenants WHERE slug = @normalized", new { normalized }, cancellationToken: ct)), ct);
    }
}
