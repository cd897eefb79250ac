using Dms.Modules.Access;
using Dms.Modules.Notifications.Preferences;
using Dms.Platform.Database;

namespace Dms.Modules.Notifications.Mail;

/// <summary>What an unsubscribe link offers: whom it is for and the kind it names (null: every kind).</summary>
internal sealed record UnsubscribeOffer(string Email, NotificationKind? Kind);

/// <summary>
/// The unsubscribe link's use case. There is no signed-in caller: the signed token names the user, so it is not an
/// <c>IHandler</c>. Turning e-mail off again changes nothing (idempotent); in-app notifications are left as they are.
/// </summary>
internal sealed class UnsubscribeHandler(Db db, UnsubscribeTokens tokens)
{
    /// <summary>The offer of a valid link; null for a link that is forged, damaged, or names a user who is gone.</summary>
    public async Task<UnsubscribeOffer?> ReadAsync(string? token, CancellationToken ct)
    {
        if (tokens.Read(token) is not { } what)
        {
            return null;
        }
        var names = await db.InTenantAsync(what.TenantId, (c, tx) => UserDirectory.NamesAsync(c, tx, what.TenantId, [what.UserId], ct), ct);
        return names.Count == 0 ? null : new UnsubscribeOffer(names[0].Name, what.Kind == Unsubscribe.AllKinds ? null : NotificationKinds.Describe(NotificationKinds.PreferenceOf(what.Kind)));
    }

    /// <summary>Turns e-mail off for the link's kind, or for every kind when <paramref name="all"/>; null for an invalid link.</summary>
    public async Task<UnsubscribeOffer?> StopAsync(string? token, bool all, CancellationToken ct)
    {
        var offer = await ReadAsync(token, ct);
        if (offer is null)
        {
            return null;
        }
        var what = tokens.Read(token)!;
        var kinds = all || offer.Kind is null ? NotificationKinds.All : [offer.Kind];
        await db.InTenantAsync(what.TenantId, (c, tx) => PreferenceStore.StopEmailAsync(c, tx, what.TenantId, what.UserId, kinds, ct), ct);
        return all ? offer with { Kind = null } : offer;
    }
}
