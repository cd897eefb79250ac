using System.Collections.Concurrent;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Microsoft.Extensions.Options;

namespace Dms.Platform.Http.Idempotency;

/// <summary>One key of one user of one tenant.</summary>
internal sealed record KeyScope(Guid Tenant, Guid User, string Key);

/// <summary>What a request found when it tried to claim its key.</summary>
internal abstract record KeyClaim
{
    /// <summary>The key is this request's: it runs.</summary>
    public sealed record Owned : KeyClaim;

    /// <summary>Another request holds the key and is still running.</summary>
    public sealed record Running : KeyClaim;

    /// <summary>A request with this key finished: its fingerprint and its answer (encrypted; null when too large to keep).</summary>
    public sealed record Finished(byte[] Fingerprint, int Status, byte[]? Response) : KeyClaim;
}

/// <summary>
/// <c>idempotency_keys</c> (Platform's table, row-level secured by tenant): every move of a key's state machine
/// (<see cref="IdempotencyKeyState"/>) is one statement here. Each runs in a short transaction of its own, so no
/// connection is held while a handler runs or a retry waits.
/// </summary>
internal sealed class IdempotencyStore(Db db, TimeProvider clock, IOptions<DmsOptions> options)
{
    internal const long AdvisoryLockKey = 0x0D05_0017;

    /// <summary>Retries waiting on this node for a key held on this node, woken when it is settled (other nodes poll).</summary>
    private readonly ConcurrentDictionary<KeyScope, TaskCompletionSource> _settled = new();

    private IdempotencyOptions Settings => options.Value.Idempotency;

    /// <summary>
    /// Claims the key for <paramref name="owner"/> when nobody has it, it expired, or its holder's lease ran out; else says
    /// what holds it. The conflict arm locks the row, so the read after it sees a settled state.
    /// </summary>
    public Task<KeyClaim> ClaimAsync(KeyScope scope, Guid owner, CancellationToken ct) =>
        db.InTenantAsync(scope.Tenant, async (c, tx) =>
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var claimed = await c.ExecuteScalarAsync<Guid?>(new CommandDefinition($"""
                INSERT INTO idempotency_keys (tenant_id, user_id, key, state, owner_id, locked_until, created_at, expires_at)
                VALUES (@tenant, @user, @key, {IdempotencyKeyState.InProgress.Sql()}, @owner, @lockedUntil, @now, @expiresAt)
                ON CONFLICT (tenant_id, user_id, key) DO UPDATE
                  SET state = EXCLUDED.state, owner_id = EXCLUDED.owner_id, locked_until = EXCLUDED.locked_until,
                      created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, fingerprint = NULL, status_code = NULL, response = NULL
                  WHERE (idempotency_keys.state = {IdempotencyKeyState.Completed.Sql()} AND idempotency_keys.expires_at <= @now)
                     OR (idempotency_keys.state = {IdempotencyKeyState.InProgress.Sql()} AND idempotency_keys.locked_until <= @now)
                RETURNING owner_id
                """, new
            {
                tenant = scope.Tenant,
                user = scope.User,
                key = scope.Key,
                owner,
                now,
                lockedUntil = now + Settings.Lease,
                expiresAt = now + Settings.Retention,
            }, tx, cancellationToken: ct));
            if (claimed == owner)
            {
                return new KeyClaim.Owned();
            }
            var row = await c.QuerySingleAsync<KeyRow>(new CommandDefinition("""
                SELECT state, fingerprint, status_code, response FROM idempotency_keys
                WHERE tenant_id = @tenant AND user_id = @user AND key = @key
                """, new { tenant = scope.Tenant, user = scope.User, key = scope.Key }, tx, cancellationToken: ct));
            return row.State == IdempotencyKeyState.Completed
                ? new KeyClaim.Finished(row.Fingerprint!, row.StatusCode!.Value, row.Response)
                : (KeyClaim)new KeyClaim.Running();
        }, ct);

    /// <summary>Keeps the claim alive while the request runs; false when the claim was lost (the lease ran out and a retry took it).</summary>
    public async Task<bool> RenewAsync(KeyScope scope, Guid owner, CancellationToken ct) =>
        await db.InTenantAsync(scope.Tenant, (c, tx) => c.ExecuteAsync(new CommandDefinition($"""
            UPDATE idempotency_keys SET locked_until = @lockedUntil
            WHERE tenant_id = @tenant AND user_id = @user AND key = @key AND owner_id = @owner AND state = {IdempotencyKeyState.InProgress.Sql()}
            """, new { tenant = scope.Tenant, user = scope.User, key = scope.Key, owner, lockedUntil = clock.GetUtcNow().UtcDateTime + Settings.Lease },
            tx, cancellationToken: ct)), ct) == 1;

    /// <summary>InProgress → Completed: the answer is kept for the retention period from now.</summary>
    public async Task<bool> CompleteAsync(KeyScope scope, Guid owner, byte[] fingerprint, int status, byte[]? response, CancellationToken ct)
    {
        try
        {
            var now = clock.GetUtcNow().UtcDateTime;
            return await db.InTenantAsync(scope.Tenant, (c, tx) => c.ExecuteAsync(new CommandDefinition($"""
                UPDATE idempotency_keys
                SET state = {IdempotencyKeyState.Completed.Sql()}, fingerprint = @fingerprint, status_code = @status, response = @response,
                    locked_until = NULL, expires_at = @expiresAt
                WHERE tenant_id = @tenant AND user_id = @user AND key = @key AND owner_id = @owner AND state = {IdempotencyKeyState.InProgress.Sql()}
                """, new { tenant = scope.Tenant, user = scope.User, key = scope.Key, owner, fingerprint, status, response, expiresAt = now + Settings.Retention },
                tx, cancellationToken: ct)), ct) == 1;
        }
        finally
        {
            Settle(scope);
        }
    }

    /// <summary>InProgress → gone: the request failed (5xx or an exception), so a retry runs it again.</summary>
    public async Task ReleaseAsync(KeyScope scope, Guid owner, CancellationToken ct)
    {
        try
        {
            await db.InTenantAsync(scope.Tenant, (c, tx) => c.ExecuteAsync(new CommandDefinition($"""
                DELETE FROM idempotency_keys
                WHERE tenant_id = @tenant AND user_id = @user AND key = @key AND owner_id = @owner AND state = {IdempotencyKeyState.InProgress.Sql()}
                """, new { tenant = scope.Tenant, user = scope.User, key = scope.Key, owner }, tx, cancellationToken: ct)), ct);
        }
        finally
        {
            Settle(scope);
        }
    }

    /// <summary>Waits until a request on this node settles the key, or <paramref name="poll"/> passes (the holder may be another node).</summary>
    public async Task WaitAsync(KeyScope scope, TimeSpan poll, CancellationToken ct)
    {
        var settled = _settled.GetOrAdd(scope, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await Task.WhenAny(settled.Task, Task.Delay(poll, clock, ct));
        ct.ThrowIfCancellationRequested();
    }

    /// <summary>Wakes this node's retries waiting on the key (they read its state again).</summary>
    public void Settle(KeyScope scope)
    {
        if (_settled.TryRemove(scope, out var settled))
        {
            settled.TrySetResult();
        }
    }

    /// <summary>
    /// Deletes one tenant's keys past their retention: answers, and claims whose node died (lease run out) that nobody
    /// retried. A claim still renewed is never deleted, however long its request runs.
    /// </summary>
    public Task<int> DeleteExpiredAsync(Guid tenant, CancellationToken ct) =>
        db.InTenantAsync(tenant, (c, tx) => c.ExecuteAsync(new CommandDefinition($"""
            DELETE FROM idempotency_keys
            WHERE tenant_id = @tenant AND expires_at <= @now
              AND (state = {IdempotencyKeyState.Completed.Sql()} OR locked_until <= @now)
            """, new { tenant, now = clock.GetUtcNow().UtcDateTime }, tx, cancellationToken: ct)), ct);

    private sealed class KeyRow
    {
        public IdempotencyKeyState State { get; init; }
        public byte[]? Fingerprint { get; init; }
        public int? StatusCode { get; init; }
        public byte[]? Response { get; init; }
    }
}
