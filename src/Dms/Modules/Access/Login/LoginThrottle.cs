using System.Security.Cryptography;
using System.Text;
using Dapper;
using Dms.Platform.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Access.Login;

/// <summary>
/// Account lockout: after <c>LockoutThreshold</c> consecutive failures for one tenant slug and e-mail, sign-in
/// is refused for <c>LockoutDuration</c>, with the correct password too. Counted for the pair whether or not
/// such an account exists, so the answer reveals nothing. Shared by all nodes (a database row).
/// </summary>
internal sealed class LoginThrottle(NpgsqlDataSource dataSource, IOptions<DmsOptions> options)
{
    public static byte[] Key(string slug, string email) =>
        SHA256.HashData(Encoding.UTF8.GetBytes($"{slug.Trim().ToLowerInvariant()}\n{email.Trim().ToLowerInvariant()}"));

    /// <summary>When the pair is locked, until when.</summary>
    public async Task<DateTime?> LockedUntilAsync(byte[] key, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<DateTime?>(new CommandDefinition(
            "SELECT locked_until FROM login_throttle WHERE key_hash = @key AND locked_until > now()", new { key }, cancellationToken: ct));
    }

    /// <summary>Counts a failure; returns the lock's end when this failure locked the pair.</summary>
    public async Task<DateTime?> FailedAsync(byte[] key, CancellationToken ct)
    {
        var settings = options.Value.Security;
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<DateTime?>(new CommandDefinition("""
            INSERT INTO login_throttle AS t (key_hash, failures, updated_at) VALUES (@key, 1, now())
            ON CONFLICT (key_hash) DO UPDATE SET
              failures = CASE WHEN t.failures + 1 >= @threshold THEN 0 ELSE t.failures + 1 END,
              locked_until = CASE WHEN t.failures + 1 >= @threshold THEN now() + @duration ELSE t.locked_until END,
              updated_at = now()
            RETURNING CASE WHEN locked_until > now() THEN locked_until END
            """, new { key, threshold = settings.LockoutThreshold, duration = settings.LockoutDuration }, cancellationToken: ct));
    }

    public async Task SucceededAsync(byte[] key, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("DELETE FROM login_throttle WHERE key_hash = @key", new { key }, cancellationToken: ct));
    }
}
