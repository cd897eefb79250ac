using Dapper;
using Npgsql;

namespace Dms.Modules.Access;

/// <summary>Seats for Billing's usage report: a seat is an enabled user. Runs in the caller's transaction.</summary>
internal static class Seats
{
    public static Task<int> UsedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.ExecuteScalarAsync<int>(new CommandDefinition("SELECT count(*)::int FROM users WHERE tenant_id = @tenant AND NOT disabled",
            new { tenant }, tx, cancellationToken: ct));
}
