using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Approvals.Delegation;

internal sealed record DelegationResponse(Guid UserId, Guid DelegateUserId, DateTime From, DateTime Until, bool Active);

/// <summary><c>approval_delegations</c>: who decides in whose name, and when.</summary>
internal static class Delegations
{
    private const string Columns = "user_id, delegate_user_id, starts_at AS From, ends_at AS Until";

    private sealed record Row(Guid UserId, Guid DelegateUserId, DateTime From, DateTime Until);

    public static async Task<DelegationResponse?> OfAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, DateTime now, CancellationToken ct)
    {
        var row = await c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM approval_delegations WHERE tenant_id = @tenant AND user_id = @userId", new { tenant, userId }, tx, cancellationToken: ct));
        return row is null ? null : new DelegationResponse(row.UserId, row.DelegateUserId, row.From, row.Until, row.From <= now && now < row.Until);
    }

    /// <summary>The users who, at <paramref name="now"/>, let <paramref name="delegateId"/> decide in their name.</summary>
    public static async Task<IReadOnlyList<Guid>> DelegatorsOfAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid delegateId, DateTime now,
        CancellationToken ct) =>
        (await c.QueryAsync<Guid>(new CommandDefinition("""
            SELECT user_id FROM approval_delegations
            WHERE tenant_id = @tenant AND delegate_user_id = @delegateId AND starts_at <= @now AND ends_at > @now
            ORDER BY user_id
            """, new { tenant, delegateId, now }, tx, cancellationToken: ct))).ToList();

    /// <summary>The delegates acting, at <paramref name="now"/>, for any of <paramref name="users"/> (to tell them of requests).</summary>
    public static async Task<IReadOnlyList<(Guid User, Guid Delegate)>> DelegatesOfAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant,
        IReadOnlyList<Guid> users, DateTime now, CancellationToken ct) =>
        (await c.QueryAsync<(Guid, Guid)>(new CommandDefinition("""
            SELECT user_id, delegate_user_id FROM approval_delegations
            WHERE tenant_id = @tenant AND user_id = ANY(@users) AND starts_at <= @now AND ends_at > @now
            """, new { tenant, users = users.ToArray(), now }, tx, cancellationToken: ct))).ToList();

    public static Task SetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, Guid delegateId, DateTime from, DateTime until,
        CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO approval_delegations (tenant_id, user_id, delegate_user_id, starts_at, ends_at) VALUES (@tenant, @userId, @delegateId, @from, @until)
            ON CONFLICT (tenant_id, user_id) DO UPDATE SET delegate_user_id = excluded.delegate_user_id, starts_at = excluded.starts_at,
                                                           ends_at = excluded.ends_at, created_at = now()
            """, new { tenant, userId, delegateId, from, until }, tx, cancellationToken: ct));

    public static async Task<bool> RemoveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid userId, CancellationToken ct) =>
        await c.ExecuteAsync(new CommandDefinition("DELETE FROM approval_delegations WHERE tenant_id = @tenant AND user_id = @userId",
            new { tenant, userId }, tx, cancellationToken: ct)) == 1;
}

/// <summary>The caller's delegation, if any.</summary>
internal sealed record GetDelegation;

internal sealed class GetDelegationHandler(Db db, TimeProvider clock) : IHandler<GetDelegation, DelegationResponse?>
{
    public Task<DelegationResponse?> HandleAsync(GetDelegation query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => Delegations.OfAsync(c, tx, me.TenantId, me.UserId, clock.GetUtcNow().UtcDateTime, ct), ct);
}

/// <summary>
/// Out of office: from <paramref name="From"/> (default now) until <paramref name="Until"/>, <paramref name="DelegateUserId"/>
/// decides requests in the caller's name (replacing any earlier delegation). Audited.
/// </summary>
internal sealed record SetDelegation(string? DelegateUserId, DateTimeOffset? From, DateTimeOffset? Until);

internal sealed class SetDelegationHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<SetDelegation, DelegationResponse>
{
    public static readonly TimeSpan MaxLength = TimeSpan.FromDays(366);

    public async Task<DelegationResponse> HandleAsync(SetDelegation command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var parsed = Guid.TryParse(command.DelegateUserId, out var delegateId) && delegateId != Guid.Empty;
        var from = command.From?.UtcDateTime ?? now;
        var until = command.Until?.UtcDateTime;
        new Validator()
            .Require(parsed, "delegateUserId", "delegateUserId is the id of the user who decides in your name.")
            .Require(!parsed || delegateId != me.UserId, "delegateUserId", "You cannot delegate to yourself.")
            .Require(until is not null, "until", "until (when the delegation ends) is required.")
            .Require(until is null || until > from, "until", "until comes after from.")
            .Require(until is null || until > now, "until", "until is in the future.")
            .Require(until is null || until - from <= MaxLength, "until", "A delegation lasts at most a year.")
            .ThrowIfInvalid();
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            if (!await UserDirectory.IsActiveAsync(c, tx, me.TenantId, delegateId, ct))
            {
                throw new ApiProblem(StatusCodes.Status422UnprocessableEntity, "delegation.unknown_user", "The delegate is not an active user of this tenant.");
            }
            await Delegations.SetAsync(c, tx, me.TenantId, me.UserId, delegateId, from, until!.Value, ct);
            await audit.RecordAsync(c, tx, "delegation.set", "user", me.UserId, new { delegateUserId = delegateId, from, until }, ct: ct);
            return (await Delegations.OfAsync(c, tx, me.TenantId, me.UserId, now, ct))!;
        }, ct);
    }
}

/// <summary>Ends the caller's delegation (404 when there is none).</summary>
internal sealed record RemoveDelegation;

internal sealed class RemoveDelegationHandler(Db db, AuditTrail audit) : IHandler<RemoveDelegation, bool>
{
    public Task<bool> HandleAsync(RemoveDelegation command, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            if (!await Delegations.RemoveAsync(c, tx, me.TenantId, me.UserId, ct))
            {
                throw new ApiProblem(StatusCodes.Status404NotFound, "delegation.not_found", "You have no delegation.");
            }
            await audit.RecordAsync(c, tx, "delegation.removed", "user", me.UserId, null, ct: ct);
            return true;
        }, ct);
}
