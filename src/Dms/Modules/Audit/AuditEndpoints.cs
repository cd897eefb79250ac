using System.Globalization;
using System.Text;
using System.Text.Json;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Audit;

internal sealed record AuditEventResponse(
    Guid Id, long Seq, DateTime OccurredAt, string ActorType, Guid? ActorId, string ActorLabel, string Action, string EntityType,
    string? EntityId, JsonElement? Data, string? ClientIp, string? UserAgent, string? CorrelationId, string Hash);

/// <summary>
/// <c>GET /audit</c> (filter, newest first), <c>GET /audit/export?format=csv|ndjson</c> (the whole filtered trail,
/// streamed oldest first) and <c>GET /audit/verify</c> (walks the tenant's hash chain). Admins and Auditors only.
/// </summary>
internal static class AuditEndpoints
{
    public static IEndpointRouteBuilder MapAudit(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireAuthorization(Policies.ReadAudit);
        group.MapGet("", List).WithSummary("List audit events, newest first, with filters");
        group.MapGet("/export", Export).WithSummary("Export the filtered audit trail as CSV or NDJSON");
        group.MapGet("/verify", Verify).WithSummary("Verify the audit trail's hash chain");
        return app;
    }

    private sealed record Filter(string? Actor, string? Action, string? EntityId, DateTimeOffset? From, DateTimeOffset? To);

    private const string Columns = "id, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type, entity_id, data::text AS data_text, client_ip, user_agent, correlation_id, hash";

    private sealed class Row
    {
        public Guid Id { get; init; }
        public long Seq { get; init; }
        public DateTime OccurredAt { get; init; }
        public string ActorType { get; init; } = "";
        public Guid? ActorId { get; init; }
        public string ActorLabel { get; init; } = "";
        public string Action { get; init; } = "";
        public string EntityType { get; init; } = "";
        public string? EntityId { get; init; }
        public string? DataText { get; init; }
        public string? ClientIp { get; init; }
        public string? UserAgent { get; init; }
        public string? CorrelationId { get; init; }
        public string Hash { get; init; } = "";

        public AuditEventResponse ToResponse() => new(Id, Seq, OccurredAt, ActorType, ActorId, ActorLabel, Action, EntityType, EntityId,
            DataText is null ? null : JsonDocument.Parse(DataText).RootElement.Clone(), ClientIp, UserAgent, CorrelationId, Hash);
    }

    private static (string Sql, DynamicParameters Parameters) Where(Guid tenant, Filter f)
    {
        var where = new List<string> { "tenant_id = @tenant" };
        var p = new DynamicParameters(new { tenant });
        if (f.Actor is { } actor)
        {
            // An actor is a user id, or an e-mail / label fragment.
            if (Guid.TryParse(actor, out var actorId))
            {
                where.Add("actor_id = @actorId");
                p.Add("actorId", actorId);
            }
            else
            {
                where.Add(@"actor_label ILIKE @actorLabel ESCAPE '\'");
                p.Add("actorLabel", $"%{EscapeLike(actor)}%");
            }
        }
        if (f.Action is { } action)
        {
            // Typed into a search box: any part of the action, in any case ("approval", "Login", "document.down");
            // a trailing dot ("approval.") still reads as a prefix, which is also a part. What the user typed is
            // literal: % and _ are not wildcards.
            where.Add(@"action ILIKE @action ESCAPE '\'");
            p.Add("action", $"%{EscapeLike(action)}%");
        }
        if (f.EntityId is { } entityId)
        {
            where.Add("entity_id = @entityId");
            p.Add("entityId", entityId);
        }
        if (f.From is { } from)
        {
            where.Add("occurred_at >= @from");
            p.Add("from", from.UtcDateTime);
        }
        if (f.To is { } to)
        {
            where.Add("occurred_at < @to");
            p.Add("to", to.UtcDateTime);
        }
        return (string.Join(" AND ", where), p);
    }

    private static string EscapeLike(string value) =>
        value.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);

    private static Filter ParseFilter(string? actor, string? action, string? entityId, string? from, string? to)
    {
        static bool Text(string? value, int max) => value is null || (value.Length <= max && !value.Any(char.IsControl));
        DateTimeOffset? Time(string? value, string field, Validator v)
        {
            if (value is null)
            {
                return null;
            }
            var ok = DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed);
            v.Require(ok, field, $"{field} must be an ISO 8601 date or time.");
            return ok ? parsed : null;
        }
        var v = new Validator()
            .Require(Text(actor, 320), "actor", "actor is a user id or e-mail (at most 320 characters).")
            .Require(Text(action, 100), "action", "action is at most 100 characters (any part of an action name, e.g. 'approval').")
            .Require(Text(entityId, 100), "entityId", "entityId is at most 100 characters.");
        var filter = new Filter(actor, action, entityId, Time(from, "from", v), Time(to, "to", v));
        v.ThrowIfInvalid();
        return filter;
    }

    internal static async Task<IResult> List(HttpContext http, string? actor, string? action, string? entityId, string? from, string? to,
        int? limit, string? cursor, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var filter = ParseFilter(actor, action, entityId, from, to);
        var take = KeysetCursor.Limit(limit, 100, 500);
        long? before = null;
        if (cursor is not null)
        {
            before = long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > 0
                ? seq
                : throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");
        }
        var (where, p) = Where(me.TenantId, filter);
        p.Add("before", before);
        p.Add("take", take + 1);
        var rows = (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM audit_events WHERE {where} AND (@before::bigint IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @take",
            p, tx, cancellationToken: ct)), ct)).ToList();
        var items = rows.Take(take).Select(r => r.ToResponse()).ToList();
        var next = rows.Count > take ? items[^1].Seq.ToString(CultureInfo.InvariantCulture) : null;
        return Results.Ok(new Page<AuditEventResponse>(items, next));
    }

    /// <summary>Streams rows from the database cursor straight to the response: memory stays flat however long the trail.</summary>
    internal static async Task Export(HttpContext http, string? format, string? actor, string? action, string? entityId, string? from, string? to,
        NpgsqlDataSource dataSource, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var kind = (format ?? "ndjson").ToLowerInvariant();
        if (kind is not ("csv" or "ndjson"))
        {
            throw ApiProblem.Validation("format", "format is csv or ndjson.");
        }
        var filter = ParseFilter(actor, action, entityId, from, to);
        var (where, p) = Where(me.TenantId, filter);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await Db.EnterTenantAsync(conn, tx, me.TenantId, ct);
        await using var reader = await conn.ExecuteReaderAsync(new CommandDefinition($"SELECT {Columns} FROM audit_events WHERE {where} ORDER BY seq", p, tx,
            flags: CommandFlags.None, cancellationToken: ct));
        var parser = reader.GetRowParser<Row>();

        http.Response.ContentType = kind == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
        http.Response.Headers.ContentDisposition = Platform.Storage.ContentDisposition.Attachment($"audit-{DateTime.UtcNow:yyyyMMddTHHmmssZ}.{kind}");
        await using var writer = new StreamWriter(http.Response.Body, new UTF8Encoding(false), 65536);
        if (kind == "csv")
        {
            await writer.WriteLineAsync("seq,occurred_at,actor_type,actor_id,actor_label,action,entity_type,entity_id,data,client_ip,user_agent,correlation_id,hash,id");
        }
        while (await reader.ReadAsync(ct))
        {
            var row = parser(reader);
            if (kind == "csv")
            {
                await writer.WriteLineAsync(string.Join(',', new[]
                {
                    row.Seq.ToString(CultureInfo.InvariantCulture), row.OccurredAt.ToString("O", CultureInfo.InvariantCulture), row.ActorType,
                    row.ActorId?.ToString() ?? "", row.ActorLabel, row.Action, row.EntityType, row.EntityId ?? "", row.DataText ?? "",
                    row.ClientIp ?? "", row.UserAgent ?? "", row.CorrelationId ?? "", row.Hash, row.Id.ToString(),
                }.Select(Csv)));
            }
            else
            {
                await writer.WriteLineAsync(JsonSerializer.Serialize(row.ToResponse(), JsonSerializerOptions.Web));
            }
        }
        await writer.FlushAsync(ct);
    }

    /// <summary>RFC 4180 quoting; a leading formula character is neutralised so spreadsheets do not execute it.</summary>
    private static string Csv(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }
        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
    }

    /// <summary>
    /// Walks the tenant's hash chain and compares it with the newest signed checkpoint in the blob store (ADR 0012).
    /// The checkpoint store comes from the request's services so the UI page can call this with the same arguments.
    /// </summary>
    internal static async Task<IResult> Verify(HttpContext http, NpgsqlDataSource dataSource, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var checkpoints = http.RequestServices.GetRequiredService<AuditCheckpoints>();
        return Results.Ok(await AuditVerification.VerifyAsync(dataSource, checkpoints, me.TenantId, ct));
    }
}
