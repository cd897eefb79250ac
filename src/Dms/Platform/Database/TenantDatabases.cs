using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Dms.Platform.Caching;
using Dms.Platform.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>A tenant's move state in the tenant directory (<c>tenant_placements</c>, migration 0030; no row: Home).</summary>
internal enum TenantPlacementState
{
    /// <summary>In the main database (also: a move that was rolled back).</summary>
    Home,

    /// <summary>A move is copying the last changes: writes are refused with 503 <c>tenant.moving</c>, reads go on.</summary>
    Frozen,

    /// <summary>Lives in the database at the placement's address; its rows in the main database are left behind.</summary>
    Moved,
}

/// <summary>The move state machine: every allowed move in one place (the mover is the only writer).</summary>
internal static class TenantPlacementStates
{
    private static readonly Dictionary<TenantPlacementState, TenantPlacementState[]> Next = new()
    {
        [TenantPlacementState.Home] = [TenantPlacementState.Frozen],
        // Switched after verification, or rolled back (a failure, or the runbook's unfreeze).
        [TenantPlacementState.Frozen] = [TenantPlacementState.Moved, TenantPlacementState.Home],
        // A moved tenant stays moved: moving it again (or back) is not supported yet.
        [TenantPlacementState.Moved] = [],
    };

    public static bool CanMove(TenantPlacementState from, TenantPlacementState to) => Next[from].Contains(to);
}

/// <summary>Where a tenant lives: the address of its database (never a credential) and its move state.</summary>
internal sealed record TenantPlacement(TenantPlacementState State, string Host, int Port, string Database)
{
    public string Address => $"{Host}:{Port}/{Database}";
}

/// <summary>
/// Which database holds a tenant's rows (issue 18 item 4, ADR 0036). Answers from a per-node cache of the tenant
/// directory (<c>tenant_placements</c> in the main database), filled on a miss and dropped on every node through the
/// cache channel (<see cref="CacheChangeKind.Placement"/>) when the mover changes a tenant's state. One
/// <see cref="NpgsqlDataSource"/> per database, kept for the node's lifetime, built from this node's own runtime
/// connection string with Host, Port and Database replaced (the same roles and passwords on every server).
/// </summary>
internal sealed class TenantDatabases(NpgsqlDataSource main, DatabaseConnections connections, IOptions<DmsOptions> options)
    : INodeCache, IAsyncDisposable
{
    private readonly ConcurrentDictionary<Guid, TenantPlacement?> _placements = new();
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _sources = new(StringComparer.Ordinal);

    // Bumped by every invalidation: a cache fill that began before it is not kept (it may have read the old state).
    private long _generation;
    private volatile DirectorySnapshot? _directory;

    public NpgsqlDataSource Main => main;

    public async ValueTask<NpgsqlDataSource> SourceForAsync(Guid tenantId, CancellationToken ct)
    {
        var placement = await PlacementAsync(tenantId, ct);
        return placement is { State: TenantPlacementState.Moved } ? SourceAt(placement) : main;
    }

    /// <summary>The tenant's directory entry (null: never moved), from the cache or, on a miss, the main database.</summary>
    public async ValueTask<TenantPlacement?> PlacementAsync(Guid tenantId, CancellationToken ct)
    {
        if (_placements.TryGetValue(tenantId, out var cached))
        {
            return cached;
        }
        var generation = Volatile.Read(ref _generation);
        await using var conn = await main.OpenConnectionAsync(ct);
        var placement = await ReadAsync(conn, null, tenantId, ct);
        // Kept only if no invalidation arrived while reading: a read that began before a move committed, and whose
        // notification came in meanwhile, would otherwise keep this node reading the tenant's old database.
        if (Volatile.Read(ref _generation) == generation)
        {
            _placements[tenantId] = placement;
        }
        return placement;
    }

    internal static async Task<TenantPlacement?> ReadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid tenantId, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<(string State, string Host, int Port, string Database)?>(new CommandDefinition(
            "SELECT state, host, port, database FROM tenant_placements WHERE tenant = @tenantId", new { tenantId }, tx, cancellationToken: ct));
        return row is { } r ? new TenantPlacement(Enum.Parse<TenantPlacementState>(r.State), r.Host, r.Port, r.Database) : null;
    }

    /// <summary>
    /// Every database that holds tenants on this node's view: the main one first, then each distinct target of a moved
    /// tenant. Background passes call this once per pass (every outbox lane, the chainer, webhook and bulk workers, several
    /// times a second together), so the directory is cached like placements and read again after a placement
    /// notification, or after <see cref="DirectoryFor"/> in case one was missed.
    /// </summary>
    public async Task<IReadOnlyList<NpgsqlDataSource>> AllAsync(CancellationToken ct) => (await DirectoryAsync(ct)).All;

    /// <summary>The tenants that live in another database than the main one (background passes on the main one skip them).</summary>
    public async Task<IReadOnlySet<Guid>> MovedAwayAsync(CancellationToken ct) => (await DirectoryAsync(ct)).MovedAway;

    private static readonly TimeSpan DirectoryFor = TimeSpan.FromSeconds(5);

    private sealed record DirectorySnapshot(IReadOnlyList<NpgsqlDataSource> All, IReadOnlySet<Guid> MovedAway, long ReadAt);

    private async Task<DirectorySnapshot> DirectoryAsync(CancellationToken ct)
    {
        if (_directory is { } current && Stopwatch.GetElapsedTime(current.ReadAt) < DirectoryFor)
        {
            return current;
        }
        var generation = Volatile.Read(ref _generation);
        var readAt = Stopwatch.GetTimestamp();
        await using var conn = await main.OpenConnectionAsync(ct);
        var moved = (await conn.QueryAsync<(Guid Tenant, string Host, int Port, string Database)>(new CommandDefinition(
            $"SELECT tenant, host, port, database FROM tenant_placements WHERE state = '{nameof(TenantPlacementState.Moved)}' ORDER BY host, port, database",
            cancellationToken: ct))).ToList();
        var all = new List<NpgsqlDataSource> { main };
        foreach (var (_, host, port, database) in moved)
        {
            var source = SourceAt(new TenantPlacement(TenantPlacementState.Moved, host, port, database));
            if (!all.Contains(source))
            {
                all.Add(source);
            }
        }
        var snapshot = new DirectorySnapshot(all, moved.Select(m => m.Tenant).ToHashSet(), readAt);
        if (Volatile.Read(ref _generation) == generation)
        {
            _directory = snapshot;
        }
        return snapshot;
    }

    /// <summary>The runtime data source of the database at <paramref name="placement"/>'s address (the main one if it is that).</summary>
    public NpgsqlDataSource SourceAt(TenantPlacement placement)
    {
        var target = RuntimeConnectionStringAt(connections.App, placement);
        if (SameDatabase(target, connections.App))
        {
            return main;
        }
        return _sources.GetOrAdd(placement.Address, _ =>
        {
            var builder = new NpgsqlDataSourceBuilder(target) { Name = $"dms-tenant-{placement.Database}" };
            builder.ConnectionStringBuilder.Timeout = Math.Max(1, (int)Math.Ceiling(options.Value.Database.ConnectTimeout.TotalSeconds));
            return builder.Build();
        });
    }

    /// <summary><paramref name="connectionString"/> with the placement's Host, Port and Database: same user, same password.</summary>
    internal static string RuntimeConnectionStringAt(string connectionString, TenantPlacement placement) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Host = placement.Host, Port = placement.Port, Database = placement.Database }.ConnectionString;

    internal static bool SameDatabase(string a, string b)
    {
        var (x, y) = (new NpgsqlConnectionStringBuilder(a), new NpgsqlConnectionStringBuilder(b));
        return string.Equals(x.Host, y.Host, StringComparison.OrdinalIgnoreCase) && x.Port == y.Port && x.Database == y.Database;
    }

    /// <summary>Drops one tenant's entry, and the directory, on this node only (a write found the tenant moved before the notification came).</summary>
    public void Forget(Guid tenantId)
    {
        Interlocked.Increment(ref _generation);
        _placements.TryRemove(tenantId, out _);
        _directory = null;
    }

    public void Invalidate(CacheChange change)
    {
        if (change.Kind == CacheChangeKind.Placement)
        {
            Forget(change.Tenant);
        }
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _placements.Clear();
        _directory = null;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var source in _sources.Values)
        {
            await source.DisposeAsync();
        }
        _sources.Clear();
    }
}
