using Dapper;
using Dms.Platform.Database;
using Npgsql;

namespace Dms.Modules.Audit;

/// <summary>The newest checkpoint verify compared the chain with.</summary>
internal sealed record CheckpointSummary(long Sequence, string? At);

/// <summary>
/// <c>GET /audit/verify</c>'s answer. <c>Problem</c> names what is wrong: <c>broken_link</c> (an event's hash or
/// link does not match), <c>head_mismatch</c> (the head disagrees with the last event), <c>truncated</c> (the
/// chain ends before its newest checkpoint), <c>tail_rewritten</c> (the chain was recomputed: its hash at the
/// checkpoint differs from the signed one), <c>checkpoint_invalid</c> (the newest checkpoint's signature does
/// not verify, or it is malformed). <c>Unchained</c> counts events recorded but not yet chained (ADR 0038), and
/// <c>OldestUnchainedSeconds</c> says how long the oldest of them has waited: they are not part of the chain yet, so
/// they never make it invalid; a growing tail means the chainers are behind or stopped.
/// </summary>
internal sealed record AuditVerifyResponse(
    bool Valid, long Checked, Guid? FirstBrokenEventId, long? FirstBrokenSeq, bool Anchored, CheckpointSummary? Checkpoint,
    long UnanchoredEvents, string? Problem, long Unchained = 0, double? OldestUnchainedSeconds = null);

internal static class AuditVerification
{
    public static async Task<AuditVerifyResponse> VerifyAsync(NpgsqlDataSource dataSource, AuditCheckpoints checkpoints, Guid tenant, CancellationToken ct) =>
        (await VerifyAsync(dataSource, checkpoints, tenant, after: null, checkAnchor: true, ct)).Result;

    /// <summary>
    /// The walk in two parts, for a tenant move (ADR 0041): first the chain as copied, before the freeze
    /// (<paramref name="checkAnchor"/> false: the signed checkpoint may already be newer than the copy), which returns its
    /// last link; then, under the freeze, only the events after that link (<paramref name="after"/>), with the head and the
    /// checkpoint checked as in a whole walk. The events up to the link are not read again: they are sealed (the
    /// append-only trigger allows no change to a chained event) and the mover checks every row changed since the copy.
    /// </summary>
    internal static async Task<(AuditVerifyResponse Result, (long Seq, string Hash)? Last)> VerifyAsync(
        NpgsqlDataSource dataSource, AuditCheckpoints checkpoints, Guid tenant, (long Seq, string Hash)? after, bool checkAnchor, CancellationToken ct)
    {
        // Read first: a checkpoint written while the chain is walked is then simply not used this time.
        var stored = checkAnchor ? await checkpoints.LatestAsync(tenant, ct) : null;
        var anchor = stored?.Checkpoint;
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        // One snapshot for the walk, the head and the pending tail: a batch chained meanwhile is either wholly in it or not.
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await Db.EnterTenantAsync(conn, tx, tenant, ct);
        var (unchained, oldestSeconds) = await conn.QuerySingleAsync<(long, double?)>(new CommandDefinition("""
            SELECT count(*), extract(epoch FROM clock_timestamp() - min(occurred_at))::float8
            FROM audit_events WHERE tenant_id = @tenant AND seq IS NULL
            """, new { tenant }, tx, cancellationToken: ct));
        // The database recomputes each link with the same function that made it; this walks them in order.
        string? hashAtCheckpoint = null;
        if (after is { } from && stored?.KeySequence <= from.Seq)
        {
            hashAtCheckpoint = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT hash FROM audit_events WHERE tenant_id = @tenant AND seq = @seq", new { tenant, seq = stored.KeySequence }, tx, cancellationToken: ct));
        }
        await using var reader = await conn.ExecuteReaderAsync(new CommandDefinition("""
            SELECT e.id, e.seq, e.prev_hash, e.hash, audit_link(e.prev_hash, e) AS recomputed
            FROM audit_events e WHERE e.tenant_id = @tenant AND e.seq IS NOT NULL AND e.seq > @afterSeq ORDER BY e.seq
            """, new { tenant, afterSeq = after?.Seq ?? 0 }, tx, cancellationToken: ct));
        var expectedPrev = after?.Hash ?? new string('0', 64);
        long expectedSeq = (after?.Seq ?? 0) + 1, checkedCount = after?.Seq ?? 0;
        while (await reader.ReadAsync(ct))
        {
            var (id, seq, prev, hash, recomputed) = (reader.GetGuid(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetString(4));
            if (seq != expectedSeq || prev != expectedPrev || hash != recomputed)
            {
                return (new AuditVerifyResponse(false, checkedCount, id, seq, false, Summary(stored, tenant), 0, "broken_link") with { Unchained = unchained, OldestUnchainedSeconds = oldestSeconds }, Last());
            }
            if (seq == stored?.KeySequence)
            {
                hashAtCheckpoint = hash;
            }
            expectedPrev = hash;
            expectedSeq++;
            checkedCount++;
        }
        await reader.CloseAsync();
        (long, string)? Last() => checkedCount == 0 ? null : (checkedCount, expectedPrev);
        // The head must agree with the last event: removing events at the end is tampering too.
        var head = await conn.QuerySingleOrDefaultAsync<(long LastSeq, string LastHash)?>(new CommandDefinition(
            "SELECT last_seq, last_hash FROM audit_heads WHERE tenant_id = @tenant", new { tenant }, tx, cancellationToken: ct));
        var headOk = head is null ? checkedCount == 0 : head.Value.LastSeq == checkedCount && head.Value.LastHash == expectedPrev;
        if (!headOk)
        {
            return (new AuditVerifyResponse(false, checkedCount, null, checkedCount + 1, false, Summary(stored, tenant), 0, "head_mismatch") with { Unchained = unchained, OldestUnchainedSeconds = oldestSeconds }, Last());
        }
        if (stored is null)
        {
            return (new AuditVerifyResponse(true, checkedCount, null, null, false, null, checkedCount, null, unchained, oldestSeconds), Last());
        }
        if (!stored.IsTrusted(tenant) || anchor is null)
        {
            return (new AuditVerifyResponse(false, checkedCount, null, null, false, Summary(stored, tenant), 0, "checkpoint_invalid") with { Unchained = unchained, OldestUnchainedSeconds = oldestSeconds }, Last());
        }
        // A consistent chain that is shorter than, or differs at, what was signed earlier was cut or recomputed.
        if (checkedCount < anchor.Sequence)
        {
            return (new AuditVerifyResponse(false, checkedCount, null, checkedCount + 1, false, Summary(stored, tenant), 0, "truncated") with { Unchained = unchained, OldestUnchainedSeconds = oldestSeconds }, Last());
        }
        if (hashAtCheckpoint != anchor.Hash)
        {
            return (new AuditVerifyResponse(false, checkedCount, null, null, false, Summary(stored, tenant), 0, "tail_rewritten") with { Unchained = unchained, OldestUnchainedSeconds = oldestSeconds }, Last());
        }
        return (new AuditVerifyResponse(true, checkedCount, null, null, true, Summary(stored, tenant), checkedCount - anchor.Sequence, null, unchained, oldestSeconds), Last());
    }

    // An untrusted checkpoint's fields are whatever its forger wrote: only its place in the store is reported.
    private static CheckpointSummary? Summary(StoredCheckpoint? stored, Guid tenant) =>
        stored is null ? null : new CheckpointSummary(stored.KeySequence, stored.IsTrusted(tenant) ? stored.Checkpoint!.At : null);
}
