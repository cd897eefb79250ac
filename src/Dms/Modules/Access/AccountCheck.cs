using System.Collections.Concurrent;
using System.Security.Claims;
using Dms.Platform.Caching;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Microsoft.Extensions.Caching.Memory;
using Npgsql;

namespace Dms.Modules.Access;

/// <summary>
/// Runs after a token's signature and lifetime check (and on every UI cookie request): the user must still
/// exist and be enabled, and the role in force is the one stored now, not the one the token or cookie was
/// issued with. One indexed lookup per request. The UI cookie also needs its sign-in in force: a UI session lives
/// as long as the refresh token it was made from (unrevoked, unused, unexpired), so signing out, reuse detection
/// and disabling a user end it, and no session outlives the refresh token's absolute lifetime.
/// </summary>
/// <remarks>
/// Bearer requests (no sign-in to check) may reuse a lookup for <c>Dms:Security:AccountCheckCacheSeconds</c> (ADR 0019):
/// a change made on any node drops it at once on every node (<see cref="AccountChanges"/>, a database notification, ADR 0033);
/// while a node's listener is disconnected, another node's change is seen there within that many seconds. UI cookie requests always read the database, as their sign-in can end at any moment.
/// </remarks>
internal sealed class AccountCheck(Db db, AccountChanges changes, IConfiguration configuration) : IAccountCheck, IDisposable
{
    private readonly TimeSpan _ttl = TimeSpan.FromSeconds(Math.Clamp(configuration.GetValue("Dms:Security:AccountCheckCacheSeconds", 5), 0, 60));
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 100_000 });

    /// <summary>Null when the account (and with <paramref name="requireSignIn"/>, its sign-in) is in force, with its stored role applied to the principal; else why not.</summary>
    public async Task<string?> CheckAsync(HttpContext http, ClaimsPrincipal? principal, bool requireSignIn)
    {
        if (principal is null ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Subject), out var userId) ||
            !Guid.TryParse(principal.FindFirstValue(DmsClaims.Tenant), out var tenantId))
        {
            return "The token names no user.";
        }
        byte[]? refreshHash = null;
        if (requireSignIn)
        {
            if (principal.FindFirstValue(DmsClaims.SessionRefreshToken) is not { } refresh)
            {
                return "The session names no sign-in.";
            }
            refreshHash = RefreshTokens.Hash(refresh);
        }
        var account = requireSignIn || _ttl == TimeSpan.Zero
            ? await ReadAsync(tenantId, userId, refreshHash, http.RequestAborted)
            : await CachedAsync(tenantId, userId, http.RequestAborted);
        if (account is not { Disabled: false } current)
        {
            return "The account is disabled or gone.";
        }
        if (!current.SignedIn)
        {
            return "The sign-in has ended.";
        }
        if (principal.FindFirstValue(DmsClaims.Role) != current.Role && principal.Identity is ClaimsIdentity identity)
        {
            foreach (var stale in identity.FindAll(DmsClaims.Role).ToList())
            {
                identity.RemoveClaim(stale);
            }
            identity.AddClaim(new Claim(DmsClaims.Role, current.Role));
        }
        if (principal.Identity is ClaimsIdentity id)
        {
            // Decided from the stored account on each request, so a change takes effect on the very next one.
            foreach (var stale in id.FindAll(DmsClaims.MustChangePassword).ToList())
            {
                id.RemoveClaim(stale);
            }
            if (current.MustChangePassword)
            {
                id.AddClaim(new Claim(DmsClaims.MustChangePassword, "true"));
            }
        }
        return null;
    }

    // One round trip: the account, and the sign-in when asked.
    private Task<StoredAccount?> ReadAsync(Guid tenantId, Guid userId, byte[]? refreshHash, CancellationToken ct) =>
        db.InTenantAsync(tenantId, (c, tx) => AccountStatus.ReadAsync(c, tx, tenantId, userId, refreshHash, ct), ct);

    private async Task<StoredAccount?> CachedAsync(Guid tenantId, Guid userId, CancellationToken ct)
    {
        var key = (tenantId, userId);
        var generation = changes.Generation(key);
        if (_cache.TryGetValue(key, out Entry? hit) && hit!.Generation == generation)
        {
            return hit.Account;
        }
        var account = await ReadAsync(tenantId, userId, null, ct);
        // Only a read that began after the last change (and outside its commit window) may be reused.
        if (changes.MayCache(key, generation))
        {
            _cache.Set(key, new Entry(account, generation), new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = _ttl, Size = 1 });
        }
        return account;
    }

    public void Dispose() => _cache.Dispose();

    private sealed record Entry(StoredAccount? Account, (long Change, long Clears) Generation);
}

/// <summary>
/// Changes to an account that the account check must see on the very next request: role, disabled, password (must-change).
/// One per app (a DI singleton, never static: two nodes in one test process must not share it). Call
/// <see cref="ChangedAsync"/> in the changing transaction: it marks the change here at once and sends it to every node
/// (this one too) when the transaction commits (ADR 0033). A read that starts between the mark and the commit could still
/// see the old row, so reads are not cached for a window after a change (longer than any such transaction and than the
/// longest cache lifetime, so no entry from before the change outlives its record); and a read that started before a mark
/// or a clear is never cached (generations only grow).
/// </summary>
internal sealed class AccountChanges : INodeCache
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(2);
    private readonly ConcurrentDictionary<(Guid Tenant, Guid User), Change> _changes = new();
    private long _generations;
    private long _clears;

    /// <summary>Marks the change on this node and notifies every node on commit.</summary>
    public Task ChangedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenantId, Guid userId, CancellationToken ct)
    {
        Changed(tenantId, userId);
        return CacheNotifications.PublishAsync(c, tx, CacheChange.Account(tenantId, userId), ct);
    }

    public void Invalidate(CacheChange change)
    {
        if (change.Kind == CacheChangeKind.Account)
        {
            Changed(change.Tenant, change.User);
        }
    }

    /// <summary>Every entry cached before now is dropped: each entry carries the clear count it was read under.</summary>
    public void Clear() => Interlocked.Increment(ref _clears);

    internal void Changed(Guid tenantId, Guid userId) =>
        _changes[(tenantId, userId)] = new Change(Interlocked.Increment(ref _generations), Environment.TickCount64);

    /// <summary>What an entry must match to be used: the key's last change, and the clears so far.</summary>
    internal (long Change, long Clears) Generation((Guid, Guid) key) =>
        (_changes.TryGetValue(key, out var change) ? change.Generation : 0, Interlocked.Read(ref _clears));

    internal bool MayCache((Guid, Guid) key, (long Change, long Clears) generationBeforeRead)
    {
        if (Interlocked.Read(ref _clears) != generationBeforeRead.Clears)
        {
            return false;
        }
        if (!_changes.TryGetValue(key, out var change))
        {
            return generationBeforeRead.Change == 0;
        }
        if (Environment.TickCount64 - change.At > Window.TotalMilliseconds)
        {
            // Old enough to forget: keeps the map as small as the set of recently changed accounts.
            _changes.TryRemove(KeyValuePair.Create(key, change));
            return change.Generation == generationBeforeRead.Change;
        }
        return false;
    }

    private sealed record Change(long Generation, long At);
}
