using System.Collections.Concurrent;
using System.Text.Json;
using Dapper;
using Dms.Platform.Caching;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Billing.Subscriptions;

/// <summary>
/// Tenants' subscription states, cached for a few seconds per node (<see cref="BillingOptions.StateCacheDuration"/>) so
/// the write gate costs no query per request. A change notifies every node on commit (<see cref="ChangedAsync"/>, ADR 0033),
/// which forget their entry at once; a node whose listener is disconnected sees it when its entry expires (docs/billing.md,
/// ADR 0030).
/// </summary>
internal sealed class SubscriptionCache(Db db, TimeProvider clock, IOptions<BillingOptions> options) : INodeCache
{
    private readonly ConcurrentDictionary<Guid, (SubscriptionState? State, DateTime Until)> _cache = new();

    // Grows with every forget and clear: a read that began before one is not stored (it may have seen the old row).
    private long _generation;

    public async ValueTask<SubscriptionState?> OfAsync(Guid tenant, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (_cache.TryGetValue(tenant, out var hit) && hit.Until > now)
        {
            return hit.State;
        }
        var generation = Interlocked.Read(ref _generation);
        var state = await db.ReadInTenantAsync(tenant, "SELECT status, trial_ends_at, past_due_since, canceled_at, deletion_scheduled_at FROM tenant_subscriptions WHERE tenant_id = @tenant",
            new { tenant }, grid => grid.ReadSingleOrDefaultAsync<SubscriptionState>(), ct);
        if (Interlocked.Read(ref _generation) == generation)
        {
            _cache[tenant] = (state, now + options.Value.StateCacheDuration);
        }
        return state;
    }

    /// <summary>Called in the transaction of every change of a tenant's subscription: every node forgets it on commit.</summary>
    public static Task ChangedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        CacheNotifications.PublishAsync(c, tx, CacheChange.Subscription(tenant), ct);

    /// <summary>Called after every change of a tenant's subscription on this node (its notification may come a moment later).</summary>
    public void Forget(Guid tenant)
    {
        Interlocked.Increment(ref _generation);
        _cache.TryRemove(tenant, out _);
    }

    public void Invalidate(CacheChange change)
    {
        if (change.Kind == CacheChangeKind.Subscription)
        {
            Forget(change.Tenant);
        }
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
    }

    /// <summary>What the tenant may do now; everything when it has no subscription.</summary>
    public async ValueTask<SubscriptionAccess> AccessAsync(Guid tenant, CancellationToken ct) =>
        await OfAsync(tenant, ct) is { } state ? state.Access(clock.GetUtcNow().UtcDateTime, options.Value.GracePeriod) : SubscriptionAccess.Everything;

    /// <summary>Reads a row inside a caller's transaction (no cache), locked when <paramref name="forUpdate"/>.</summary>
    public static Task<SubscriptionRow?> ReadAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, bool forUpdate, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition($"""
            SELECT status, trial_ends_at, past_due_since, canceled_at, deletion_scheduled_at, last_event_created, current_period_end
            FROM tenant_subscriptions WHERE tenant_id = @tenant {(forUpdate ? "FOR UPDATE" : "")}
            """, new { tenant }, tx, cancellationToken: ct));
}

internal sealed record SubscriptionRow(SubscriptionStatus Status, DateTime? TrialEndsAt, DateTime? PastDueSince, DateTime? CanceledAt, DateTime? DeletionScheduledAt,
    DateTime? LastEventCreated, DateTime? CurrentPeriodEnd);

/// <summary>
/// The one gate for writes under a subscription (<see cref="IWriteGate"/>): a signed-in request other than GET/HEAD is
/// refused with 402 and the state's code when the tenant's subscription does not allow writing. What must keep working
/// stays open: signing in and out, token refresh, changing one's password, marking notifications read, and exports
/// (a bulk ZIP job) in every state.
/// </summary>
internal sealed class SubscriptionGate(SubscriptionCache states, IAuthenticationSchemeProvider schemes) : IWriteGate
{
    private static readonly string[] Exempt =
    [
        "/api/v1/auth", "/api/v1/me/password", "/account/password", "/logout", "/login", "/api/v1/notifications", "/notifications",
        "/api/v1/billing", "/api/v1/platform",
    ];

    public async ValueTask CheckAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (Exempt.Any(p => path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)) ||
            await SignedInAsync(context) is not { } principal || !Guid.TryParse(principal.FindFirst(DmsClaims.Tenant)?.Value, out var tenant))
        {
            return;
        }
        var access = await states.AccessAsync(tenant, context.RequestAborted);
        if (access.Write || (access.Export && await IsExportAsync(context)))
        {
            return;
        }
        throw new ApiProblem(StatusCodes.Status402PaymentRequired, access.RefusalCode!, access.Message!);
    }

    /// <summary>
    /// The caller: the request's user (a bearer token), or for the web UI's form posts its session cookie, which only the
    /// pages' policies authenticate (the handler keeps the result for the rest of the request).
    /// </summary>
    private async Task<System.Security.Claims.ClaimsPrincipal?> SignedInAsync(HttpContext context)
    {
        if (context.User.Identity?.IsAuthenticated == true)
        {
            return context.User;
        }
        if (context.Request.Cookies.Count == 0)
        {
            return null;
        }
        foreach (var scheme in await schemes.GetAllSchemesAsync())
        {
            if (scheme.HandlerType == typeof(Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationHandler) &&
                await context.AuthenticateAsync(scheme.Name) is { Succeeded: true } result)
            {
                return result.Principal;
            }
        }
        return null;
    }

    /// <summary>Starting or cancelling a bulk ZIP job (API or the bulk page's form) is an export, not a change.</summary>
    private static async Task<bool> IsExportAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/api/v1/bulk-jobs", StringComparison.OrdinalIgnoreCase) ||
            path.StartsWithSegments("/bulk-jobs", StringComparison.OrdinalIgnoreCase))
        {
            if (path.Value!.EndsWith("/cancel", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
            if (context.Request.HasFormContentType)
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                return string.Equals(form["action"], "zip", StringComparison.OrdinalIgnoreCase);
            }
            if (context.Request.ContentLength is null or <= 64 * 1024)
            {
                context.Request.EnableBuffering();
                try
                {
                    using var body = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
                    return body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("action", out var action) &&
                        action.ValueKind == JsonValueKind.String && string.Equals(action.GetString(), "zip", StringComparison.OrdinalIgnoreCase);
                }
                catch (JsonException)
                {
                    return false;
                }
                finally
                {
                    context.Request.Body.Position = 0;
                }
            }
        }
        return false;
    }
}
