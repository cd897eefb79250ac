using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Audit.Events;

/// <summary>The whole filtered trail, oldest first: the chain in seq order, then the pending events in the order they were recorded.</summary>
internal sealed record ExportAuditEvents(string? Actor, string? Action, string? EntityId, string? From, string? To);

/// <summary>
/// An open database cursor over the exported events: the query has run (so a failure is still an error response)
/// and rows are read one at a time while the caller writes them, so memory stays flat however long the trail.
/// </summary>
internal sealed class AuditEventStream(NpgsqlConnection conn, NpgsqlTransaction tx, DbDataReader reader) : IAsyncDisposable
{
    private readonly Func<DbDataReader, AuditEventRow> _parser = reader.GetRowParser<AuditEventRow>();

    public async IAsyncEnumerable<AuditEventRow> ReadAllAsync([EnumeratorCancellation] CancellationToken ct)
    {
        while (await reader.ReadAsync(ct))
        {
            yield return _parser(reader);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await reader.DisposeAsync();
        await tx.DisposeAsync();
        await conn.DisposeAsync();
    }
}

internal sealed class ExportAuditEventsHandler(TenantDatabases tenants) : IHandler<ExportAuditEvents, AuditEventStream>
{
    public async Task<AuditEventStream> HandleAsync(ExportAuditEvents query, CurrentUser me, CancellationToken ct)
    {
        var filter = AuditEventQuery.Parse(query.Actor, query.Action, query.EntityId, query.From, query.To);
        var (where, p) = AuditEventQuery.Where(me.TenantId, filter);
        // The tenant's own database once it has been moved (ADR 0036).
        var dataSource = await tenants.SourceForAsync(me.TenantId, ct);
        var conn = await dataSource.OpenConnectionAsync(ct);
        NpgsqlTransaction? tx = null;
        try
        {
            tx = await conn.BeginTransactionAsync(ct);
            await Db.EnterTenantAsync(conn, tx, me.TenantId, ct);
            var reader = await conn.ExecuteReaderAsync(new CommandDefinition($"SELECT {AuditEventQuery.Columns} FROM audit_events WHERE {where} ORDER BY seq NULLS LAST, recorded", p, tx,
                flags: CommandFlags.None, cancellationToken: ct));
            return new AuditEventStream(conn, tx, reader);
        }
        catch
        {
            if (tx is not null)
            {
                await tx.DisposeAsync();
            }
            await conn.DisposeAsync();
            throw;
        }
    }
}
