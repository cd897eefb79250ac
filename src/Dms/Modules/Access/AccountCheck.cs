using System.Collections.Concurrent;
using System.Security.Claims;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Microsoft.Extensions.Caching.Memory;

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
/// a change made in this process drops it at once (<see cref="AccountChanges"/>); another node's change is seen within
/// that many seconds. UI cookie requests always read the database, as their sign-in can end at any moment.
/// </remarks>
internal sealed class AccountCheck(Db db, IConfiguration configuration) : IAccountCheck, IDisposable
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
        var generation = AccountChanges.Generation(key);
        if (_cache.TryGetValue(key, out Entry? hit) && hit!.Generation == generation)
        {
            return hit.Account;
        }
        var account = await ReadAsync(tenantId, userId, null, ct);
        // Only a read that began after the last change (and outside its commit window) may be reused.
        if (AccountChanges.MayCache(key, generation))
        {
            _cache.Set(key, new Entry(account, generation), new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = _ttl, Size = 1 });
        }
        return account;
    }

    public void Dispose() => _cache.Dispose();

    private sealed record Entry(StoredAccount? Account, long Generation);
}

/// <summary>
/// Changes to an account that the account check must see on the very next request in this process: role, disabled,
/// password (must-change). Call <see cref="Changed"/> in the changing transaction: a read that starts between the call
/// and the commit could still see the old row, so reads are not cached for a window after a change (longer than any
/// such transaction and than the longest cache lifetime, so no entry from before the change outlives its record);
/// and a read that started before the call is never cached (generations only grow).
/// </summary>
internal static class AccountChanges
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(2);
    private static readonly ConcurrentDictionary<(Guid Tenant, Guid User), Change> Changes = new();
    private static long _generations;

    public static void Changed(Guid tenantId, Guid userId)
    {
        var change = new Change(Interlocked.Increment(ref _generations), Environment.TickCount64);
        Changes[(tenantId, userId)] = change;
    }

    internal static long Generation((Guid, Guid) key) => Changes.TryGetValue(key, out var change) ? change.Generation : 0;

    internal static bool MayCache((Guid, Guid) key, long generationBeforeRead)
    {
        if (!Changes.TryGetValue(key, out var change))
        {
            return generationBeforeRead == 0;
        }
        if (Environment.TickCount64 - change.At > Window.TotalMilliseconds)
        {
            // Old enough to forget: keeps the map as small as the set of recently changed accounts.
            Changes.TryRemove(KeyValuePair.Create(key, change));
            return change.Generation == generationBeforeRead;
        }
        return false;
    }

    private sealed record Change(long Generation, long At);
}
