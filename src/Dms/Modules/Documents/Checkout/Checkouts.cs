using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Notifications;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.Checkout;

/// <summary>
/// The check-out lock of a document (table <c>document_checkouts</c>). A row is a lock only while its
/// <c>expires_at</c> is after the app's clock: an expired row is read as no lock and the next check-out overwrites it.
/// </summary>
internal static class Checkouts
{
    private const string Columns = "user_id AS UserId, holder_email AS Email, checked_out_at AS Since, expires_at AS ExpiresAt";

    /// <summary>The live lock on a document, if any (<paramref name="forUpdate"/> locks the row against a concurrent check-in or break).</summary>
    public static Task<CheckoutInfo?> CurrentAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, DateTime now, CancellationToken ct,
        bool forUpdate = false) =>
        c.QuerySingleOrDefaultAsync<CheckoutInfo?>(new CommandDefinition($"""
            SELECT {Columns} FROM document_checkouts
            WHERE tenant_id = @tenant AND document_id = @documentId AND expires_at > @now{(forUpdate ? " FOR UPDATE" : "")}
            """, new { tenant, documentId, now }, tx, cancellationToken: ct));

    /// <summary>
    /// Takes the lock unless someone else holds a live one. The upsert is the final word under any concurrency: of two
    /// first check-outs one inserts and the other meets the conflict, waits for it and finds a live lock it may not take.
    /// </summary>
    public static Task<CheckoutInfo?> TryTakeAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, DateTime now, DateTime expiresAt,
        CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<CheckoutInfo?>(new CommandDefinition($"""
            INSERT INTO document_checkouts (tenant_id, document_id, user_id, holder_email, checked_out_at, expires_at)
            VALUES (@tenant, @documentId, @user, @email, @now, @expiresAt)
            ON CONFLICT (tenant_id, document_id) DO UPDATE SET
              user_id = excluded.user_id, holder_email = excluded.holder_email, checked_out_at = excluded.checked_out_at, expires_at = excluded.expires_at
            WHERE document_checkouts.expires_at <= @now
            RETURNING {Columns}
            """, new { tenant = me.TenantId, documentId, user = me.UserId, email = me.Email, now, expiresAt }, tx, cancellationToken: ct));

    public static Task<int> RemoveAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("DELETE FROM document_checkouts WHERE tenant_id = @tenant AND document_id = @documentId",
            new { tenant, documentId }, tx, cancellationToken: ct));

    /// <summary>409 document.checked_out naming the holder and since when.</summary>
    public static ApiProblem HeldByOther(CheckoutInfo held) =>
        new(StatusCodes.Status409Conflict, "document.checked_out", "The document is checked out by someone else.",
            $"Checked out by {held.Email} since {held.Since:u}.")
        { Extensions = Holder(held) };

    /// <summary>423 document.locked: only the holder may request a replacement while the document is checked out.</summary>
    public static ApiProblem Locked(CheckoutInfo held) =>
        new(StatusCodes.Status423Locked, "document.locked", "The document is checked out by someone else: only they can request a new version until it is checked in.",
            $"Checked out by {held.Email} since {held.Since:u}.")
        { Extensions = Holder(held) };

    private static Dictionary<string, object?> Holder(CheckoutInfo held) => new() { ["checkout"] = held };

    /// <summary>
    /// The caller must be able to contribute to a live document (404 when missing, gone or unreadable; 403 for readers).
    /// The document row is share-locked: a replace request locks it for update before it looks for a check-out, so a
    /// check-out and a request never interleave (concurrent check-outs still meet only at the upsert).
    /// </summary>
    public static async Task RequireWritableAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, CancellationToken ct)
    {
        await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, documentId, WorkspaceAction.Contribute, ct);
        var live = await c.ExecuteScalarAsync<bool>(new CommandDefinition($"""
            SELECT EXISTS (SELECT 1 FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()}) FOR SHARE)
            """, new { tenant = me.TenantId, documentId }, tx, cancellationToken: ct));
        if (!live)
        {
            throw ApiProblem.NotFound("document");
        }
    }
}

internal sealed record CheckOut(Guid DocumentId);

/// <summary>Locks a document for the caller while they prepare a new version; again by the holder changes nothing.</summary>
internal sealed class CheckOutHandler(Db db, AuditTrail audit, TimeProvider clock, IOptions<DmsOptions> options) : IHandler<CheckOut, CheckoutInfo>
{
    public async Task<CheckoutInfo> HandleAsync(CheckOut command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var expiresAt = now + options.Value.Documents.CheckoutTimeout;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await Checkouts.RequireWritableAsync(c, tx, me, command.DocumentId, ct);
            if (await Checkouts.TryTakeAsync(c, tx, me, command.DocumentId, now, expiresAt, ct) is { } taken)
            {
                await audit.RecordAsync(c, tx, "document.checked_out", "document", command.DocumentId, new { expiresAt }, ct: ct);
                return taken;
            }
            var held = await Checkouts.CurrentAsync(c, tx, me.TenantId, command.DocumentId, now, ct)
                // The upsert found a live lock a moment ago; it cannot have expired unseen within the same statement's snapshot.
                ?? throw new InvalidOperationException("A live check-out vanished inside one transaction.");
            return held.UserId == me.UserId ? held : throw Checkouts.HeldByOther(held);
        }, ct);
    }
}

internal sealed record CheckIn(Guid DocumentId);

/// <summary>The holder gives the lock back. Nobody else can (an admin breaks it instead).</summary>
internal sealed class CheckInHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<CheckIn, bool>
{
    public async Task<bool> HandleAsync(CheckIn command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await Checkouts.RequireWritableAsync(c, tx, me, command.DocumentId, ct);
            var held = await Checkouts.CurrentAsync(c, tx, me.TenantId, command.DocumentId, now, ct, forUpdate: true)
                ?? throw ApiProblem.Conflict("document.not_checked_out", "The document is not checked out.");
            if (held.UserId != me.UserId)
            {
                throw Checkouts.HeldByOther(held);
            }
            await Checkouts.RemoveAsync(c, tx, me.TenantId, command.DocumentId, ct);
            await audit.RecordAsync(c, tx, "document.checked_in", "document", command.DocumentId, new { since = held.Since }, ct: ct);
            return true;
        }, ct);
    }
}

internal sealed record BreakCheckout(Guid DocumentId);

/// <summary>An admin takes the lock away from its holder, who is told; the break is audited with whose lock it was.</summary>
internal sealed class BreakCheckoutHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<BreakCheckout, CheckoutInfo>
{
    public async Task<CheckoutInfo> HandleAsync(BreakCheckout command, CurrentUser me, CancellationToken ct)
    {
        if (!me.IsAdmin)
        {
            throw ApiProblem.Forbidden("document.checkout_break_forbidden", "Only admins can break someone's check-out.");
        }
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await Checkouts.RequireWritableAsync(c, tx, me, command.DocumentId, ct);
            var held = await Checkouts.CurrentAsync(c, tx, me.TenantId, command.DocumentId, now, ct, forUpdate: true)
                ?? throw ApiProblem.Conflict("document.not_checked_out", "The document is not checked out.");
            await Checkouts.RemoveAsync(c, tx, me.TenantId, command.DocumentId, ct);
            await audit.RecordAsync(c, tx, "document.checkout_broken", "document", command.DocumentId,
                new { holder = held.UserId, holderEmail = held.Email, since = held.Since }, ct: ct);
            if (held.UserId != me.UserId)
            {
                var title = await DocumentsFacade.TitleAsync(c, tx, me.TenantId, command.DocumentId, ct) ?? "a document";
                await NotificationOutbox.ToUserAsync(c, tx, me.TenantId, held.UserId, new NotificationContent("document.checkout_broken",
                    $"Your check-out of “{title}” was broken",
                    $"{me.Email} released the lock you took on {held.Since:u}. Others can now request a new version.", command.DocumentId), ct);
            }
            return held;
        }, ct);
    }
}
