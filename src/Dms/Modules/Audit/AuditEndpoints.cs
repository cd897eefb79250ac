using System.Globalization;
using System.Text;
using System.Text.Json;
using Dms.Modules.Audit.Events;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Audit;

/// <summary>
/// One audit event. A <see cref="Pending"/> event is recorded (what it describes committed) but not yet chained: it has
/// no <see cref="Seq"/> or <see cref="Hash"/> until the chainer seals it, usually well within a second (ADR 0038).
/// </summary>
internal sealed record AuditEventResponse(
    Guid Id, long? Seq, DateTime OccurredAt, string ActorType, Guid? ActorId, string ActorLabel, string Action, string EntityType,
    string? EntityId, JsonElement? Data, string? ClientIp, string? UserAgent, string? CorrelationId, string? Hash, bool Pending);

/// <summary>
/// <c>GET /audit</c> (filter, newest first: pending events before chained ones), <c>GET /audit/export?format=csv|ndjson</c>
/// (the whole filtered trail, streamed oldest first: the chain in seq order, then the pending events) and <c>GET /audit/verify</c> (walks the tenant's hash chain). Admins and Auditors only.
/// </summary>
internal static class AuditEndpoints
{
    internal static async Task<IResult> ListEvents(HttpContext http, string? actor, string? action, string? entityId, string? from, string? to,
        int? limit, string? cursor, [FromServices] ListAuditEventsHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ListAuditEvents(actor, action, entityId, from, to, limit, cursor), CurrentUser.From(http.User), ct));

    /// <summary>Streams rows from the database cursor straight to the response: memory stays flat however long the trail.</summary>
    internal static async Task Export(HttpContext http, string? format, string? actor, string? action, string? entityId, string? from, string? to,
        [FromServices] ExportAuditEventsHandler handler, [FromServices] TimeProvider clock, CancellationToken ct)
    {
        var kind = (format ?? "ndjson").ToLowerInvariant();
        if (kind is not ("csv" or "ndjson"))
        {
            throw ApiProblem.Validation("format", "format is csv or ndjson.");
        }
        await using var events = await handler.HandleAsync(new ExportAuditEvents(actor, action, entityId, from, to), CurrentUser.From(http.User), ct);

        http.Response.ContentType = kind == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
        http.Response.Headers.ContentDisposition = Platform.Storage.ContentDisposition.Attachment($"audit-{clock.GetUtcNow().UtcDateTime:yyyyMMddTHHmmssZ}.{kind}");
        await using var writer = new StreamWriter(http.Response.Body, new UTF8Encoding(false), 65536);
        if (kind == "csv")
        {
            await writer.WriteLineAsync("seq,occurred_at,actor_type,actor_id,actor_label,action,entity_type,entity_id,data,client_ip,user_agent,correlation_id,hash,id,pending");
        }
        await foreach (var row in events.ReadAllAsync(ct))
        {
            if (kind == "csv")
            {
                await writer.WriteLineAsync(string.Join(',', new[]
                {
                    row.Seq?.ToString(CultureInfo.InvariantCulture) ?? "", row.OccurredAt.ToString("O", CultureInfo.InvariantCulture), row.ActorType,
                    row.ActorId?.ToString() ?? "", row.ActorLabel, row.Action, row.EntityType, row.EntityId ?? "", row.DataText ?? "",
                    row.ClientIp ?? "", row.UserAgent ?? "", row.CorrelationId ?? "", row.Hash ?? "", row.Id.ToString(), row.Pending ? "true" : "false",
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

    /// <summary>Walks the tenant's hash chain and compares it with the newest signed checkpoint in the blob store (ADR 0012).</summary>
    internal static async Task<IResult> Verify(HttpContext http, [FromServices] VerifyAuditChainHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new VerifyAuditChain(), CurrentUser.From(http.User), ct));
}
