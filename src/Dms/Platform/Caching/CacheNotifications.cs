using System.Globalization;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Npgsql;

namespace Dms.Platform.Caching;

/// <summary>What a cache entry depends on: an account (tenant and user) or a tenant's subscription.</summary>
internal enum CacheChangeKind
{
    Account,
    Subscription,

    /// <summary>A tenant's entry in the tenant directory (its move state, its database; ADR 0036).</summary>
    Placement,
}

/// <summary>A change that makes every node drop its cached entries for <see cref="Tenant"/> (and <see cref="User"/>).</summary>
internal readonly record struct CacheChange(CacheChangeKind Kind, Guid Tenant, Guid User)
{
    public static CacheChange Account(Guid tenant, Guid user) => new(CacheChangeKind.Account, tenant, user);

    public static CacheChange Subscription(Guid tenant) => new(CacheChangeKind.Subscription, tenant, Guid.Empty);

    public static CacheChange Placement(Guid tenant) => new(CacheChangeKind.Placement, tenant, Guid.Empty);

    /// <summary>Small and fixed: "a:tenant:user", "s:tenant" or "p:tenant" (a NOTIFY payload is limited to 8,000 bytes).</summary>
    public string Payload => Kind switch
    {
        CacheChangeKind.Account => $"a:{Tenant:N}:{User:N}",
        CacheChangeKind.Placement => $"p:{Tenant:N}",
        _ => $"s:{Tenant:N}",
    };

    public static CacheChange? Parse(string payload)
    {
        var parts = payload.Split(':');
        return parts switch
        {
            ["a", var t, var u] when Guid.TryParseExact(t, "N", out var tenant) && Guid.TryParseExact(u, "N", out var user) => Account(tenant, user),
            ["s", var t] when Guid.TryParseExact(t, "N", out var tenant) => Subscription(tenant),
            ["p", var t] when Guid.TryParseExact(t, "N", out var tenant) => Placement(tenant),
            _ => null,
        };
    }
}

/// <summary>A per-node cache that the listener tells about changes made on any node.</summary>
internal interface INodeCache
{
    /// <summary>Drops what depends on <paramref name="change"/>.</summary>
    void Invalidate(CacheChange change);

    /// <summary>Drops everything: notifications may have been missed (the listener has just (re)connected).</summary>
    void Clear();
}

/// <summary>
/// Cache invalidation to every node (ADR 0033): the writer calls <see cref="PublishAsync"/> inside the transaction that makes
/// the change; PostgreSQL delivers the notification to every listening node only when that transaction commits, so no node
/// drops (or worse, refills) an entry for a change that rolled back.
/// </summary>
internal static class CacheNotifications
{
    public const string Channel = "dms_cache";

    public static Task PublishAsync(NpgsqlConnection c, NpgsqlTransaction tx, CacheChange change, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("SELECT pg_notify(@channel, @payload)", new { channel = Channel, payload = change.Payload }, tx, cancellationToken: ct));
}

/// <summary>
/// One dedicated connection per node that LISTENs on <see cref="CacheNotifications.Channel"/> and hands every change to the
/// node's caches. It reconnects with a growing pause (0.5 s up to 30 s) and clears every cache after each (re)connect, as
/// notifications sent while it was away are lost; while it is away the caches fall back to their own lifetimes (5 s by
/// default), as before this listener existed. Runs on every role (api, worker, all).
/// </summary>
internal sealed class CacheListener(DatabaseConnections connections, IEnumerable<INodeCache> caches, ILogger<CacheListener> logger) : BackgroundService
{
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LongestPause = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(30);

    private readonly INodeCache[] _caches = caches.ToArray();
    private int _backendPid;
    private long _connects;

    /// <summary>The listening connection's server process id, 0 while disconnected (tests end it with pg_terminate_backend).</summary>
    public int BackendPid => Volatile.Read(ref _backendPid);

    /// <summary>How many times the listener has connected (the first time included).</summary>
    public long Connects => Interlocked.Read(ref _connects);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pause = FirstPause;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await OpenListenerConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => Received(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {CacheNotifications.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                // Only now: a change committed before LISTEN took effect was perhaps cached meanwhile.
                ClearAll();
                Volatile.Write(ref _backendPid, connection.ProcessID);
                if (Interlocked.Increment(ref _connects) > 1)
                {
                    DmsTelemetry.CacheListenerReconnects.Add(1);
                    logger.LogInformation("The cache listener reconnected; every node cache was cleared.");
                }
                pause = FirstPause;
                while (!stoppingToken.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(Idle, stoppingToken))
                    {
                        // Nothing for a while: a round trip proves the connection is still there (a silently dropped one
                        // would otherwise leave this node on its TTLs without knowing).
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // Any failure of the listening connection means: reconnect later, never stop the node.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Volatile.Write(ref _backendPid, 0);
                logger.LogWarning("The cache listener lost its connection ({Error}); caches fall back to their lifetimes until it is back (retry in {Pause} s).",
                    ex.Message, pause.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture));
            }
            try
            {
                await Task.Delay(pause, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestPause.Ticks));
        }
    }

    /// <summary>
    /// The one place the listening connection is opened: unpooled and long-lived, and a session-level LISTEN, so behind a
    /// transaction-pooling PgBouncer it goes straight to PostgreSQL (<c>ConnectionStrings__DmsDirect</c>, ADR 0034).
    /// </summary>
    private async Task<NpgsqlConnection> OpenListenerConnectionAsync(CancellationToken ct)
    {
        var builder = new NpgsqlConnectionStringBuilder(connections.Direct)
        {
            Pooling = false,
            ApplicationName = "dms-cache-listener",
            KeepAlive = 15,
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private void Received(string payload)
    {
        if (CacheChange.Parse(payload) is not { } change)
        {
            logger.LogWarning("The cache listener ignored a notification it cannot read.");
            return;
        }
        DmsTelemetry.CacheNotifications.Add(1, new KeyValuePair<string, object?>("kind", change.Kind switch
        {
            CacheChangeKind.Account => "account",
            CacheChangeKind.Placement => "placement",
            _ => "subscription",
        }));
        foreach (var cache in _caches)
        {
            cache.Invalidate(change);
        }
    }

    private void ClearAll()
    {
        foreach (var cache in _caches)
        {
            cache.Clear();
        }
    }
}
