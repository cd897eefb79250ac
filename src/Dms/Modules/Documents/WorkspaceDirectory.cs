using Dapper;
using Npgsql;

namespace Dms.Modules.Documents;

/// <summary>
/// Documents' facade for Access: the workspaces a tenant starts with and the one new users join. Runs inside the
/// caller's transaction, so a tenant and its default workspace (or a user and their membership) commit together.
/// </summary>
internal static class WorkspaceDirectory
{
    /// <summary>Creates the tenant's default workspace, "General", owned by <paramref name="createdBy"/>.</summary>
    public static Task CreateDefaultAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid workspaceId, Guid createdBy, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO workspaces (id, tenant_id, name, description, is_default, created_by)
            VALUES (@workspaceId, @tenant, 'General', 'Default workspace', true, @createdBy)
            """, new { workspaceId, tenant, createdBy }, tx, cancellationToken: ct));

    /// <summary>The tenant's default workspace; null only for a tenant created without one.</summary>
    public static Task<Guid?> DefaultIdAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT id FROM workspaces WHERE tenant_id = @tenant AND is_default", new { tenant }, tx, cancellationToken: ct));
}
