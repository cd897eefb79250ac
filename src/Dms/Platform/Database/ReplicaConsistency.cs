using System.Collections.Concurrent;
using System.Globalization;
using Dapper;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Read-your-writes over an asynchronous replica (ADR 0035). A write request that succeeded answers with a consistency
/// token, the primary's WAL position after its commit (<c>pg_current_wal_lsn()</c>), as the header
/// <see cref="Header"/> and the cookie <see cref="Cookie"/> (for the browser), and the node remembers it for the signed-in
/// user. A later read that brings a token (or whose user has one remembered on this node) goes to the replica only once
/// the replica has replayed that far; otherwise to the primary.
/// </summary>
internal sealed class ReplicaConsistency(ReplicaDatabase replica, NpgsqlDataSource primary, TimeProvider clock, ILogger<ReplicaConsistency> logger)
{
    public const string Header = "Dms-Consistency-Token";
    public const string Cookie = "dms_consistency";

    private readonly ConcurrentDictionary<string, (ulong Lsn, long At)> _byUser = new(StringComparer.Ordinal);

    /// <summary>The token as PostgreSQL writes an LSN (<c>16/B374D848</c>).</summary>
    public static string Format(ulong lsn) => string.Create(CultureInfo.InvariantCulture, $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}");

    public static bool TryParse(string? text, out ulong lsn)
    {
        lsn = 0;
        if (text is not { Length: >= 3 and <= 17 } || text.IndexOf('/', StringComparison.Ordinal) is var slash && slash is <= 0 or > 8 || text.Length - slash - 1 is < 1 or > 8)
        {
            return false;
        }
        if (!uint.TryParse(text.AsSpan(0, slash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var high) ||
            !uint.TryParse(text.AsSpan(slash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var low))
        {
            return false;
        }
        lsn = ((ulong)high << 32) | low;
        return true;
    }

    /// <summary>
    /// The position a read of this request must see: the newest of the header's, the cookie's and the one this node
    /// remembers for the user. Null: none. <paramref name="bad"/> when the request sent a token that is not one (it is
    /// ignored, and the caller reads on the primary).
    /// </summary>
    public ulong? RequiredBy(HttpContext context, out bool bad)
    {
        bad = false;
        ulong? required = null;
        void Take(string? text, ref bool bad)
        {
            if (string.IsNullOrEmpty(text))
            {
                return;
            }
            if (TryParse(text, out var lsn))
            {
                required = Math.Max(required ?? 0, lsn);
            }
            else
            {
                bad = true;
            }
        }
        var header = context.Request.Headers[Header];
        if (header.Count > 1)
        {
            bad = true;
        }
        else
        {
            Take(header.Count == 1 ? header[0] : null, ref bad);
        }
        Take(context.Request.Cookies[Cookie], ref bad);
        if (UserKey(context) is { } user && _byUser.TryGetValue(user, out var remembered) && !Expired(remembered.At))
        {
            required = Math.Max(required ?? 0, remembered.Lsn);
        }
        return required;
    }

    private static string? UserKey(HttpContext context) => context.User.FindFirst(DmsClaims.Subject)?.Value;

    private bool Expired(long at) => clock.GetElapsedTime(at) > replica.Options.TokenLifetime;

    /// <summary>After a write request: the token on the response, in the cookie and in this node's memory for the user.</summary>
    public async Task IssueAsync(HttpContext context)
    {
        ulong lsn;
        try
        {
            await using var conn = await primary.OpenConnectionAsync(context.RequestAborted);
            lsn = (ulong)await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", cancellationToken: context.RequestAborted));
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            // No token: the client's next reads go by lag alone; the write itself has committed and its answer stands.
            logger.LogDebug(ex, "No consistency token: the primary's WAL position could not be read");
            return;
        }
        var token = Format(lsn);
        context.Response.Headers[Header] = token;
        context.Response.Cookies.Append(Cookie, token, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = context.Request.IsHttps,
            Path = "/",
            MaxAge = replica.Options.TokenLifetime,
            IsEssential = true,
        });
        if (UserKey(context) is { } user)
        {
            Remember(user, lsn);
        }
    }

    private void Remember(string user, ulong lsn)
    {
        var now = clock.GetTimestamp();
        _byUser.AddOrUpdate(user, (lsn, now), (_, old) => (Math.Max(old.Lsn, lsn), now));
        if (_byUser.Count > replica.Options.RememberedUsers)
        {
            // Bounded: first forget what no read needs any more (replayed or expired), then the oldest.
            foreach (var (key, value) in _byUser)
            {
                if (value.Lsn <= replica.Replayed || Expired(value.At))
                {
                    _byUser.TryRemove(key, out _);
                }
            }
            var over = _byUser.Count - replica.Options.RememberedUsers;
            if (over > 0)
            {
                foreach (var (key, _) in _byUser.OrderBy(p => p.Value.At).Take(over).ToList())
                {
                    _byUser.TryRemove(key, out _);
                }
            }
        }
    }

    public int RememberedCount => _byUser.Count;

    public static bool IsRead(string method) => HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
}

internal static class ReplicaConsistencyMiddleware
{
    /// <summary>
    /// After authentication (so the user is known): a write request that answers below 400 gets a consistency token. Only
    /// with a replica configured; without one nothing changes.
    /// </summary>
    public static WebApplication UseConsistencyTokens(this WebApplication app)
    {
        if (!app.Services.GetRequiredService<ReplicaDatabase>().IsConfigured)
        {
            return app;
        }
        var consistency = app.Services.GetRequiredService<ReplicaConsistency>();
        app.Use(async (context, next) =>
        {
            if (!ReplicaConsistency.IsRead(context.Request.Method) && !HttpMethods.IsOptions(context.Request.Method))
            {
                // On starting, not after: the headers must go out with the response, and by then the handler has committed.
                context.Response.OnStarting(() => context.Response.StatusCode < 400 ? consistency.IssueAsync(context) : Task.CompletedTask);
            }
            await next(context);
        });
        return app;
    }
}
