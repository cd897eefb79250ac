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
/// <remarks>
/// The queue also refuses in bulk (ADR 0031): when a turn counts the seats under the lock and finds them all taken, every
/// request that was already waiting when that count began is refused without going to the database: it was in flight
/// while the tenant was full, so refusing it is what running it at that count would have answered. A request that
/// arrives after the count is not covered and takes its own turn, so a seat freed meanwhile is never missed.
/// </remarks>
internal sealed class SeatGate : IDisposable
{
    private readonly ConcurrentDictionary<Guid, Queue> _queues = new();

    public async Task<SeatTurn> EnterAsync(Guid tenant, CancellationToken ct)
    {
        var queue = _queues.GetOrAdd(tenant, _ => new Queue());
        var ticket = Interlocked.Increment(ref queue.Arrived);
        await queue.Gate.WaitAsync(ct);
        return new SeatTurn(queue, ticket);
    }

    public void Dispose()
    {
        foreach (var queue in _queues.Values)
        {
            queue.Dispose();
        }
    }

    internal sealed class Queue : IDisposable
    {
        public readonly SemaphoreSlim Gate = new(1, 1);

        /// <summary>Tickets handed out so far (each waiter's number is its place in arrival order).</summary>
        public long Arrived;

        // Read and written only by the turn holding the gate (the semaphore orders them).
        public long FullThrough;
        public SeatUse? FullUse;

        public void Dispose() => Gate.Dispose();
    }
}

/// <summary>A request's turn at its tenant's seat lock on this node; disposing it lets the next one in.</summary>
internal sealed class SeatTurn(SeatGate.Queue queue, long ticket) : IDisposable
{
    private int _released;

    /// <summary>The seats as an earlier turn found them, all taken, by a count that began after this request arrived; else null.</summary>
    public SeatUse? KnownFull => ticket <= queue.FullThrough ? queue.FullUse : null;

    /// <summary>Call just before the locked count; hand the answer to <see cref="Counted"/>.</summary>
    public long ArrivedBeforeCount() => Interlocked.Read(ref queue.Arrived);

    /// <summary>Publishes a count that found every seat taken to the requests that waited through it.</summary>
    public void Counted(SeatUse? use, long arrivedBeforeCount)
    {
        if (use is { Full: true })
        {
            queue.FullUse = use;
            queue.FullThrough = Math.Max(queue.FullThrough, arrivedBeforeCount);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            queue.Gate.Release();
        }
    }
}
