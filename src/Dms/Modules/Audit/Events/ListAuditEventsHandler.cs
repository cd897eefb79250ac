using System.Globalization;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Audit.Events;

/// <summary>
/// Audit events matching the filters, newest first, a keyset page at a time: first the pending events (recorded, not yet
/// chained; newest recorded first), then the chain by seq descending. The cursor is the last seq shown, or
/// <c>p</c> and the last pending event's recorded number while the page ended among the pending ones.
/// </summary>
internal sealed record ListAuditEvents(string? Actor, string? Action, string? EntityId, string? From, string? To, int? Limit, string? Cursor);

internal sealed class ListAuditEventsHandler(Db db) : IHandler<ListAuditEvents, Page<AuditEventResponse>>
{
    /// <summary>The chained part of the trail for the conditions of <see cref="AuditEventQuery.Where"/> (QueryPlanTests explains it).</summary>
    internal static string ListSql(string where) =>
        $"SELECT {AuditEventQuery.Columns} FROM audit_events WHERE {where} AND seq IS NOT NULL AND (@before::bigint IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @take";

    /// <summary>The pending part (few rows: the tail the chainer has not reached yet, on the partial index audit_events_pending).</summary>
    internal static string PendingSql(string where) =>
        $"SELECT {AuditEventQuery.Columns} FROM audit_events WHERE {where} AND seq IS NULL AND (@beforeRecorded::bigint IS NULL OR recorded < @beforeRecorded) ORDER BY recorded DESC LIMIT @pendingTake";

    public async Task<Page<AuditEventResponse>> HandleAsync(ListAuditEvents query, CurrentUser me, CancellationToken ct)
    {
        var filter = AuditEventQuery.Parse(query.Actor, query.Action, query.EntityId, query.From, query.To);
        var take = KeysetCursor.Limit(query.Limit, 100, 500);
        long? before = null, beforeRecorded = null;
        var inPending = true;
        if (query.Cursor is { } cursor)
        {
            var pending = cursor.StartsWith('p');
            var ok = long.TryParse(pending ? cursor.AsSpan(1) : cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var key) && key > 0;
            if (!ok)
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");
            }
            inPending = pending;
            before = pending ? null : key;
            beforeRecorded = pending ? key : null;
        }
        var (where, p) = AuditEventQuery.Where(me.TenantId, filter);
        p.Add("before", before);
        p.Add("take", take + 1);
        p.Add("beforeRecorded", beforeRecorded);
        p.Add("pendingTake", inPending ? take + 1 : 0);
        // Pending first, then the chain (each statement has its own snapshot): an event chained in between is in both
        // (once pending, once with its seq), never in neither.
        var sql = $"{PendingSql(where)};\n{ListSql(where)}";
        var (pendingRows, chainedRows) = await db.ReadInTenantAsync(me.TenantId, sql, p, async grid =>
            ((await grid.ReadAsync<AuditEventRow>()).ToList(), (await grid.ReadAsync<AuditEventRow>()).ToList()), ct);
        var rows = pendingRows.Concat(chainedRows).ToList();
        var items = rows.Take(take).ToList();
        string? next = null;
        if (rows.Count > take)
        {
            var last = items[^1];
            // A page ending among pending events continues with the older pending ones and then the whole chain, so an
            // event chained between two pages is shown again (now with its seq), never skipped.
            next = last.Seq is { } seq ? seq.ToString(CultureInfo.InvariantCulture) : $"p{last.Recorded!.Value.ToString(CultureInfo.InvariantCulture)}";
        }
        return new Page<AuditEventResponse>(items.Select(r => r.ToResponse()).ToList(), next);
    }
}
