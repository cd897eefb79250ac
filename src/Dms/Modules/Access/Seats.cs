using System.Collections.Concurrent;
using Dapper;
using Dms.Modules.Billing;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Modules.Access;

/// <summary>How many seats a tenant uses, and how many its plan has (null: no limit).</summary>
internal sealed record SeatUse(int Used, int? Limit)
{
    public bool Full => Limit is { } limit && Used >= limit;
}

/// <summary>
/// Seats (docs/seats.md, ADR 0031): a seat is an enabled user, so the number used is always counted from <c>users</c>,
/// never kept in a counter that could drift. Creating a user or re-enabling a disabled one takes a seat; disabling frees
/// it. Taking one is serialised per tenant by a transaction-scoped advisory lock taken before the count, so of any number
/// of concurrent attempts for the last seat exactly one commits. Runs in the caller's transaction.
/// </summary>
internal static class Seats
{
    // Two-int advisory keys (class, key) live apart from the one-bigint keys of the background jobs; 7101 is refresh families.
    private const int LockClass = 7102;

    public static Task<int> UsedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        c.ExecuteScalarAsync<int>(new CommandDefinition("SELECT count(*)::int FROM users WHERE tenant_id = @tenant AND NOT disabled",
            new { tenant }, tx, cancellationToken: ct));

    /// <summary>The tenant's seats as they are now, without the lock: for display, and to refuse early without queuing.</summary>
    public static async Task<SeatUse> UseAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var limits = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        return new SeatUse(await UsedAsync(c, tx, tenant, ct), limits.Seats);
    }

    /// <summary>
    /// Takes the tenant's seat lock (held until <paramref name="tx"/> ends) and counts the enabled users after it is
    /// granted, so the count includes every seat taken by a transaction that held the lock before. Null when the plan
    /// has no seat limit: nothing to serialise then.
    /// </summary>
    public static async Task<SeatUse?> LockAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct)
    {
        var limits = await TenantPlans.LimitsAsync(c, tx, tenant, ct);
        if (limits.Seats is not { } limit)
        {
            return null;
        }
        // One round trip, two statements: under READ COMMITTED the count's snapshot is taken when its own statement starts,
        // which is after the lock statement has returned, so it sees the commit of whoever held the lock before.
        await using var grid = await c.QueryMultipleAsync(new CommandDefinition("""
            SELECT 1 FROM (SELECT pg_advisory_xact_lock(@cls, hashtext(@key))) AS seat_lock;
            SELECT count(*)::int FROM users WHERE tenant_id = @tenant AND NOT disabled;
            """, new { cls = LockClass, key = tenant.ToString(), tenant }, tx, cancellationToken: ct));
        await grid.ReadSingleAsync<int>();
        return new SeatUse(await grid.ReadSingleAsync<int>(), limit);
    }

    /// <summary>402 <c>plan.seats_exhausted</c> when no seat is left (a payment matter: a bigger plan, or a user disabled).</summary>
    public static void EnsureFree(SeatUse? use)
    {
        if (use is { Full: true, Limit: { } limit })
        {
            throw new ApiProblem(StatusCodes.Status402PaymentRequired, "plan.seats_exhausted",
                $"All {limit} {(limit == 1 ? "seat" : "seats")} of the plan are taken: disable a user or ask for a bigger plan.",
                use.Used > limit ? $"{use.Used} users are enabled, more than the plan's {limit} (the plan was made smaller)." : null)
            {
                Extensions = new Dictionary<string, object?> { ["seats"] = new { used = use.Used, limit } },
            };
        }
    }
}

/// <summary>
/// The queue in front of the seat lock, per tenant and per node. A request waiting on the database lock holds a pooled
/// connection the whole time; a thousand of them would empty the pool and time out (503s, and other tenants starved).
/// Waiting here costs no connection, so each node has at most one connection per tenant waiting on the lock; the database
/// lock stays what makes seats exact across nodes.
/// </summary>
internal sealed class SeatGate
{
    private readonly ConcurrentDictionary<Guid, SemaphoreSlim> _gates = new();

    public async Task<IDisposable> EnterAsync(Guid tenant, CancellationToken ct)
    {
        var gate = _gates.GetOrAdd(tenant, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        return new Turn(gate);
    }

    private sealed class Turn(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release();
            }
        }
    }
}
