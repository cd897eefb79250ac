using System.Text.Json;
using Dapper;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Audit;

/// <summary>Who did it: a signed-in user, a user through a personal API token, the system (worker), or nobody yet (a failed login).</summary>
internal sealed record AuditActor(string Type, Guid? Id, string Label)
{
    public static readonly AuditActor System = new("system", null, "system");

    public static AuditActor Anonymous(string label) => new("anonymous", null, label);
}

/// <summary>
/// Appends events to the tenant's hash chain, inside the caller's transaction: an event exists if and only if
/// what it records committed. Actor, client address, user agent and correlation id come from the current
/// request when there is one.
/// </summary>
internal sealed class AuditTrail(IHttpContextAccessor accessor)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public Task RecordAsync(NpgsqlConnection c, NpgsqlTransaction tx, string action, string entityType, object? entityId,
        object? data = null, AuditActor? actor = null, CancellationToken ct = default)
    {
        var http = accessor.HttpContext;
        return AppendAsync(c, tx, actor ?? ActorOf(http), action, entityType, entityId, data, http, ct);
    }

    /// <summary>
    /// An event the platform or the command line causes as <paramref name="actor"/>: no request's client address,
    /// user agent or correlation id describes it, even when a request happens to be running.
    /// </summary>
    public static Task RecordDetachedAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditActor actor, string action, string entityType,
        object? entityId, object? data, CancellationToken ct) =>
        AppendAsync(c, tx, actor, action, entityType, entityId, data, http: null, ct);

    private static async Task AppendAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditActor actor, string action, string entityType,
        object? entityId, object? data, HttpContext? http, CancellationToken ct) =>
        await c.ExecuteAsync(new CommandDefinition(
            "SELECT audit_append(@type, @actorId, @label, @action, @entityType, @entityId, @data::jsonb, @ip, @ua, @correlation)",
            new
            {
                type = actor.Type,
                actorId = actor.Id,
                label = Printable(actor.Label),
                action,
                entityType,
                entityId = entityId?.ToString(),
                data = data is null ? null : StorableJson(JsonSerializer.Serialize(data, Json)),
                ip = http?.Connection.RemoteIpAddress?.ToString(),
                ua = http?.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent : null,
                correlation = http?.Items[CorrelationId.ItemKey] as string,
            }, tx, cancellationToken: ct));

    /// <summary>Recording must never fail on what a client typed (a failed login's e-mail): control characters go.</summary>
    private static string Printable(string text) => new(text.Where(ch => !char.IsControl(ch)).Take(320).ToArray());

    // jsonb rejects \u0000; the replacement character keeps the event recordable.
    private static string StorableJson(string json) => json.Replace("\\u0000", "\\uFFFD", StringComparison.Ordinal);

    private static AuditActor ActorOf(HttpContext? http)
    {
        if (http?.User.Identity?.IsAuthenticated != true)
        {
            return AuditActor.System;
        }
        var user = CurrentUser.From(http.User);
        return http.User.FindFirst(DmsClaims.TokenId) is { } token
            ? new AuditActor("token", user.UserId, $"{user.Email} (token {token.Value})")
            : new AuditActor("user", user.UserId, user.Email);
    }
}
