using Dapper;
using Dms.Modules.Notifications.Mail;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Notifications.Preferences;

/// <summary>One kind's channels, as the API shows and takes them.</summary>
internal sealed record KindPreference(string Kind, bool InApp, bool Email);

/// <summary>
/// <c>GET /api/v1/me/notification-preferences</c>: every kind with its channels, the digest (<c>none</c> or <c>daily</c>),
/// and whether this installation sends e-mail at all.
/// </summary>
internal sealed record NotificationPreferencesResponse(IReadOnlyList<KindPreference> Kinds, string Digest, bool EmailConfigured);

/// <summary>The PUT body: the kinds listed change, the others keep their setting; a missing digest keeps it too.</summary>
internal sealed record NotificationPreferencesBody(List<KindPreferenceBody?>? Kinds, string? Digest);

internal sealed record KindPreferenceBody(string? Kind, bool? InApp, bool? Email);

/// <summary>How one user gets one kind now: what delivery reads.</summary>
internal sealed record Channels(bool InApp, bool Email, bool Daily);

internal static class DigestModes
{
    public const string None = "none";
    public const string Daily = "daily";
    public static readonly string[] All = [None, Daily];
}

/// <summary>The module's reads and writes of preferences, inside the caller's transaction.</summary>
internal static class PreferenceStore
{
    /// <summary>How each of <paramref name="users"/> gets <paramref name="kind"/>: stored choices over the kind's defaults.</summary>
    public static async Task<IReadOnlyDictionary<Guid, Channels>> ForKindAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, IReadOnlyList<Guid> users,
        string kind, CancellationToken ct)
    {
        kind = NotificationKinds.PreferenceOf(kind);
        var defaults = NotificationKinds.Describe(kind);
        var rows = await c.QueryAsync<(Guid Id, bool? InApp, bool? Email, string? Digest)>(new CommandDefinition("""
            SELECT u.id, p.in_app, p.email, s.digest
            FROM unnest(@users) AS u(id)
            LEFT JOIN notification_preferences p ON p.tenant_id = @tenant AND p.user_id = u.id AND p.kind = @kind
            LEFT JOIN notification_settings s ON s.tenant_id = @tenant AND s.user_id = u.id
            """, new { tenant, users = users.ToArray(), kind }, tx, cancellationToken: ct));
        return rows.ToDictionary(r => r.Id, r => new Channels(r.InApp ?? defaults.DefaultInApp, r.Email ?? defaults.DefaultEmail, r.Digest == DigestModes.Daily));
    }

    public static async Task<(IReadOnlyList<KindPreference> Kinds, string Digest)> ForUserAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid user,
        CancellationToken ct)
    {
        var stored = (await c.QueryAsync<(string Kind, bool InApp, bool Email)>(new CommandDefinition(
            "SELECT kind, in_app, email FROM notification_preferences WHERE tenant_id = @tenant AND user_id = @user",
            new { tenant, user }, tx, cancellationToken: ct))).ToDictionary(r => r.Kind);
        var digest = await c.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT digest FROM notification_settings WHERE tenant_id = @tenant AND user_id = @user", new { tenant, user }, tx, cancellationToken: ct));
        var kinds = NotificationKinds.All.Select(k => stored.TryGetValue(k.Name, out var s)
            ? new KindPreference(k.Name, s.InApp, s.Email)
            : new KindPreference(k.Name, k.DefaultInApp, k.DefaultEmail)).ToList();
        return (kinds, digest ?? DigestModes.None);
    }

    public static Task SetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid user, KindPreference preference, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO notification_preferences (tenant_id, user_id, kind, in_app, email) VALUES (@tenant, @user, @Kind, @InApp, @Email)
            ON CONFLICT (tenant_id, user_id, kind) DO UPDATE SET in_app = EXCLUDED.in_app, email = EXCLUDED.email, updated_at = now()
            """, new { tenant, user, preference.Kind, preference.InApp, preference.Email }, tx, cancellationToken: ct));

    public static Task SetDigestAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid user, string digest, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO notification_settings (tenant_id, user_id, digest) VALUES (@tenant, @user, @digest)
            ON CONFLICT (tenant_id, user_id) DO UPDATE SET digest = EXCLUDED.digest, updated_at = now()
            """, new { tenant, user, digest }, tx, cancellationToken: ct));

    /// <summary>Turns e-mail off for <paramref name="kinds"/> and leaves in-app as it is (an unsubscribe link).</summary>
    public static async Task StopEmailAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid user, IEnumerable<NotificationKind> kinds, CancellationToken ct)
    {
        foreach (var kind in kinds)
        {
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO notification_preferences (tenant_id, user_id, kind, in_app, email) VALUES (@tenant, @user, @kind, @inApp, false)
                ON CONFLICT (tenant_id, user_id, kind) DO UPDATE SET email = false, updated_at = now()
                """, new { tenant, user, kind = kind.Name, inApp = kind.DefaultInApp }, tx, cancellationToken: ct));
        }
    }
}

internal sealed record GetNotificationPreferences;

internal sealed class GetNotificationPreferencesHandler(Db db, IOptions<MailOptions> mail) : IHandler<GetNotificationPreferences, NotificationPreferencesResponse>
{
    public async Task<NotificationPreferencesResponse> HandleAsync(GetNotificationPreferences query, CurrentUser me, CancellationToken ct)
    {
        var (kinds, digest) = await db.InTenantAsync(me.TenantId, (c, tx) => PreferenceStore.ForUserAsync(c, tx, me.TenantId, me.UserId, ct), ct);
        return new NotificationPreferencesResponse(kinds, digest, mail.Value.Enabled);
    }
}

/// <summary>Changes the caller's preferences: every listed kind must exist (<c>notification.unknown_kind</c>) and say both channels.</summary>
internal sealed record SetNotificationPreferences(NotificationPreferencesBody? Body);

internal sealed class SetNotificationPreferencesHandler(Db db, GetNotificationPreferencesHandler get) : IHandler<SetNotificationPreferences, NotificationPreferencesResponse>
{
    public async Task<NotificationPreferencesResponse> HandleAsync(SetNotificationPreferences command, CurrentUser me, CancellationToken ct)
    {
        var body = command.Body ?? throw ApiProblem.Validation("body", "Send {\"kinds\": [...], \"digest\": \"none\" | \"daily\"}.");
        var changes = new List<KindPreference>();
        var validator = new Validator();
        foreach (var (entry, i) in (body.Kinds ?? []).Select((e, i) => (e, i)))
        {
            if (entry?.Kind is null || entry.InApp is null || entry.Email is null)
            {
                validator.Require(false, $"kinds[{i}]", "Each entry needs kind, inApp and email.");
                continue;
            }
            if (!NotificationKinds.IsChoosable(entry.Kind))
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "notification.unknown_kind", $"There is no notification kind '{Truncate(entry.Kind)}'.",
                    $"Known kinds: {string.Join(", ", NotificationKinds.All.Select(k => k.Name))}.");
            }
            validator.Require(changes.All(c => c.Kind != entry.Kind), $"kinds[{i}]", $"The kind '{entry.Kind}' is listed twice.");
            changes.Add(new KindPreference(entry.Kind, entry.InApp.Value, entry.Email.Value));
        }
        validator.Require(body.Digest is null || DigestModes.All.Contains(body.Digest), "digest", "The digest is \"none\" or \"daily\".");
        validator.ThrowIfInvalid();
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            foreach (var change in changes)
            {
                await PreferenceStore.SetAsync(c, tx, me.TenantId, me.UserId, change, ct);
            }
            if (body.Digest is { } digest)
            {
                await PreferenceStore.SetDigestAsync(c, tx, me.TenantId, me.UserId, digest, ct);
            }
        }, ct);
        return await get.HandleAsync(new GetNotificationPreferences(), me, ct);
    }

    private static string Truncate(string value) => value.Length > 100 ? value[..100] + "…" : value;
}

internal static class PreferenceEndpoints
{
    public static async Task<IResult> Get(HttpContext http, [Microsoft.AspNetCore.Mvc.FromServices] GetNotificationPreferencesHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetNotificationPreferences(), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Put(HttpContext http, NotificationPreferencesBody? body,
        [Microsoft.AspNetCore.Mvc.FromServices] SetNotificationPreferencesHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new SetNotificationPreferences(body), CurrentUser.From(http.User), ct));
}
