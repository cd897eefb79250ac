using System.Globalization;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Audit.Events;

/// <summary>Audit events matching the filters, newest first, a keyset page at a time (the cursor is the last seq shown).</summary>
internal sealed record ListAuditEvents(string? Actor, string? Action, string? EntityId, string? From, string? To, int? Limit, string? Cursor);

internal sealed class ListAuditEventsHandler(Db db) : IHandler<ListAuditEvents, Page<AuditEventResponse>>
{
    /// <summary>The trail's query for the conditions of <see cref="AuditEventQuery.Where"/> (QueryPlanTests explains it).</summary>
    internal static string ListSql(string where) =>
        $"SELECT {AuditEventQuery.Columns} FROM audit_events WHERE {where} AND (@before::bigint IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @take";

    public async Task<Page<AuditEventResponse>> HandleAsync(ListAuditEvents query, CurrentUser me, CancellationToken ct)
    {
        var filter = AuditEventQuery.Parse(query.Actor, query.Action, query.EntityId, query.From, query.To);
        var take = KeysetCursor.Limit(query.Limit, 100, 500);
        long? before = null;
        if (query.Cursor is not null)
        {
            before = long.TryParse(query.Cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > 0
                ? seq
                : throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");
        }
        var (where, p) = AuditEventQuery.Where(me.TenantId, filter);
        p.Add("before", before);
        p.Add("take", take + 1);
        var rows = (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<AuditEventRow>(new CommandDefinition(
            ListSql(where),
            p, tx, cancellationToken: ct)), ct)).ToList();
        var items = rows.Take(take).Select(r => r.ToResponse()).ToList();
        var next = rows.Count > take ? items[^1].Seq.ToString(CultureInfo.InvariantCulture) : null;
        return new Page<AuditEventResponse>(items, next);
    }
}
