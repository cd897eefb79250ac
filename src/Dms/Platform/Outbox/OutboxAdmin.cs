using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Platform.Outbox;

internal sealed record DeadMessage(Guid Id, Guid TenantId, string Type, string Payload, int Attempts, string? LastError, DateTime CreatedAt);

/// <summary>
/// Dead letters: tenant admins list theirs and replay one (<c>/api/v1/admin/outbox</c>); operators do the same
/// across tenants with the <c>outbox dead</c> / <c>outbox replay ID</c> CLI verbs.
/// </summary>
internal static class OutboxAdmin
{
    internal const string Columns = "id, tenant_id, type, payload::text AS payload, attempts, last_error, created_at";

    public static IEndpointRouteBuilder MapOutboxAdmin(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/admin/outbox").WithTags("Operations").RequireAuthorization(Policies.Admin);
        group.MapGet("/dead", Dead).Produces<ItemsResponse<DeadMessage>>(200).WithSummary("List dead background messages (admins)");
        group.MapPost("/{id}/replay", Replay).Produces(StatusCodes.Status202Accepted).WithSummary("Replay a dead background message (admins)");
        return app;
    }

    /// <summary><c>GET /api/v1/admin/outbox/dead</c>: the tenant's dead messages, newest first.</summary>
    internal static async Task<IResult> Dead(HttpContext http, ListDeadMessagesHandler handler, CancellationToken ct) =>
        Results.Ok(new { items = await handler.HandleAsync(new ListDeadMessages(), CurrentUser.From(http.User), ct) });

    /// <summary><c>POST /api/v1/admin/outbox/{id}/replay</c>: a dead message of the caller's tenant is tried again, audited.</summary>
    internal static async Task<IResult> Replay(HttpContext http, string id, ReplayDeadMessageHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new ReplayDeadMessage(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.Accepted();
    }

    /// <summary>A dead message gets a fresh set of attempts, due now. Only dead messages can be replayed.</summary>
    public static async Task<bool> ReplayAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid messageId, Guid? tenant, CancellationToken ct) =>
        await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE outbox_messages SET status = {OutboxStatus.Pending.Sql()}, attempts = 0, available_at = now(), last_error = NULL
            WHERE id = @messageId AND status = {OutboxStatus.Dead.Sql()} AND (@tenant::uuid IS NULL OR tenant_id = @tenant)
            """, new { messageId, tenant }, tx, cancellationToken: ct)) == 1;

    /// <summary>CLI: <c>outbox dead</c> lists every tenant's dead messages; <c>outbox replay ID</c> replays one. Needs the owner connection.</summary>
    public static async Task<int> RunCliAsync(string[] args, IServiceProvider services)
    {
        // Operators work across tenants, which the runtime role cannot (ADR 0012): the CLI connects as the
        // schema owner, whose policy on outbox_messages covers every tenant.
        await using var conn = new NpgsqlConnection(services.GetRequiredService<DatabaseConnections>().Owner);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        switch (args)
        {
            case [_, "dead"]:
                foreach (var m in await conn.QueryAsync<DeadMessage>($"SELECT {Columns} FROM outbox_messages WHERE status = {OutboxStatus.Dead.Sql()} ORDER BY created_at", transaction: tx))
                {
                    await Console.Out.WriteLineAsync($"{m.Id}  tenant={m.TenantId}  {m.Type}  attempts={m.Attempts}  created={m.CreatedAt:O}  error={m.LastError}");
                }
                return 0;
            case [_, "replay", var raw] when Guid.TryParse(raw, out var messageId):
                if (!await ReplayAsync(conn, tx, messageId, null, CancellationToken.None))
                {
                    await Console.Error.WriteLineAsync($"dms: no dead outbox message {messageId}");
                    return 1;
                }
                await tx.CommitAsync();
                await Console.Out.WriteLineAsync($"replayed {messageId}");
                return 0;
            default:
                await Console.Error.WriteLineAsync("usage: dotnet run --project src/Dms -- outbox dead | outbox replay MESSAGE_ID");
                return 2;
        }
    }
}

/// <summary>The tenant's dead messages, newest first (at most 500).</summary>
internal sealed record ListDeadMessages;

internal sealed class ListDeadMessagesHandler(Db db) : IHandler<ListDeadMessages, List<DeadMessage>>
{
    public async Task<List<DeadMessage>> HandleAsync(ListDeadMessages query, CurrentUser me, CancellationToken ct) =>
        (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<DeadMessage>(new CommandDefinition(
            $"SELECT {OutboxAdmin.Columns} FROM outbox_messages WHERE tenant_id = @tenant AND status = {OutboxStatus.Dead.Sql()} ORDER BY created_at DESC LIMIT 500",
            new { tenant = me.TenantId }, tx, cancellationToken: ct)), ct)).ToList();
}

/// <summary>A dead message of the caller's tenant gets a fresh set of attempts; 404 outbox_message.not_found when there is no such dead message.</summary>
internal sealed record ReplayDeadMessage(Guid MessageId);

internal sealed class ReplayDeadMessageHandler(Db db, IAuditLog audit) : IHandler<ReplayDeadMessage, bool>
{
    public async Task<bool> HandleAsync(ReplayDeadMessage command, CurrentUser me, CancellationToken ct)
    {
        var replayed = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var done = await OutboxAdmin.ReplayAsync(c, tx, command.MessageId, me.TenantId, ct);
            if (done)
            {
                await audit.RecordAsync(c, tx, "outbox.replayed", "outbox_message", command.MessageId, ct);
            }
            return done;
        }, ct);
        return replayed ? true : throw ApiProblem.NotFound("outbox_message");
    }
}
