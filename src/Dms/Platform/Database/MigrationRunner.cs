using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Applies the embedded <c>Migrations/NNNN_name.sql</c> scripts in order, each in its own transaction,
/// under a PostgreSQL advisory lock so that several nodes starting together apply each script once.
/// </summary>
internal static class MigrationRunner
{
    // Any fixed number works; it only has to be the same on every node.
    internal const long AdvisoryLockKey = 0x0D05_0001;

    internal sealed record Migration(int Version, string Name, string Sql, string Checksum);

    public static IReadOnlyList<Migration> EmbeddedMigrations()
    {
        var assembly = typeof(MigrationRunner).Assembly;
        const string prefix = "Dms.Migrations.";
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n =>
            {
                var name = n[prefix.Length..^".sql".Length];
                var version = int.Parse(name.Split('_')[0], System.Globalization.CultureInfo.InvariantCulture);
                var sql = ReadResource(assembly, n);
                return new Migration(version, name, sql, Checksum(sql));
            })
            .OrderBy(m => m.Version)
            .ToList();
    }

    /// <summary>Applies pending migrations; runs <paramref name="afterMigrations"/> while still holding the lock.</summary>
    public static async Task<int> MigrateAsync(string ownerConnectionString, IReadOnlyList<Migration> migrations,
        Func<NpgsqlConnection, Task>? afterMigrations, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(ownerConnectionString);
        await conn.OpenAsync(ct);
        await conn.ExecuteAsync("SELECT pg_advisory_lock(@key)", new { key = AdvisoryLockKey });
        try
        {
            await conn.ExecuteAsync("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                  version     integer PRIMARY KEY,
                  name        text NOT NULL,
                  checksum    text NOT NULL,
                  applied_at  timestamptz NOT NULL DEFAULT now())
                """);
            var applied = (await conn.QueryAsync<(int Version, string Name, string Checksum)>(
                "SELECT version, name, checksum FROM schema_migrations")).ToDictionary(r => r.Version);

            foreach (var (version, row) in applied)
            {
                var known = migrations.FirstOrDefault(m => m.Version == version);
                if (known is not null && known.Checksum != row.Checksum)
                {
                    throw new StartupException(
                        $"Migration {row.Name} was changed after it was applied (checksum {row.Checksum[..12]} in the database, " +
                        $"{known.Checksum[..12]} in this build): applied migrations are immutable, add a new one instead.");
                }
            }

            var count = 0;
            foreach (var migration in migrations.Where(m => !applied.ContainsKey(m.Version)))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await conn.ExecuteAsync(new CommandDefinition(migration.Sql, transaction: tx, commandTimeout: 0, cancellationToken: ct));
                await conn.ExecuteAsync("INSERT INTO schema_migrations (version, name, checksum) VALUES (@Version, @Name, @Checksum)",
                    new { migration.Version, migration.Name, migration.Checksum }, tx);
                await tx.CommitAsync(ct);
                count++;
            }

            if (afterMigrations is not null)
            {
                await afterMigrations(conn);
            }
            return count;
        }
        finally
        {
            await conn.ExecuteAsync("SELECT pg_advisory_unlock(@key)", new { key = AdvisoryLockKey });
        }
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    // Line endings are normalised so a checkout with CRLF does not look like an edited migration.
    internal static string Checksum(string sql) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sql.ReplaceLineEndings("\n")))).ToLowerInvariant();
}
