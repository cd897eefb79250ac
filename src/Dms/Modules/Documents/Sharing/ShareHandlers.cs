using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Sharing;

/// <summary><paramref name="Version"/>: the version number to share; null shares the current version at creation.</summary>
internal sealed record CreateShare(Guid DocumentId, DateTimeOffset? ExpiresAt, string? Password, int? MaxDownloads, int? Version);

/// <summary>The link and its token; the adapter turns the token into the public address.</summary>
internal sealed record CreatedShare(string Token, ShareResponse Share);

/// <summary>
/// A public link to one version of a document the caller may read. The expiry is required and bounded by the tenant's
/// maximum; the token is 256 random bits, stored only as its SHA-256; the password only as a PasswordHasher hash.
/// </summary>
internal sealed class CreateShareHandler(Db db, AuditTrail audit, TimeProvider clock, IOptions<DmsOptions> options) : IHandler<CreateShare, CreatedShare>
{
    public const int MaxDownloadLimit = 1_000_000;

    public async Task<CreatedShare> HandleAsync(CreateShare command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        new Validator()
            .Require(command.ExpiresAt is not null, "expiresAt", "expiresAt is required (an ISO 8601 date and time).")
            .Require(command.ExpiresAt is null || command.ExpiresAt > now, "expiresAt", "expiresAt must be in the future.")
            .Require(command.Password is null || command.Password.Length is >= 8 and <= 200, "password", "password must be 8 to 200 characters.")
            .Require(command.MaxDownloads is null or (>= 1 and <= MaxDownloadLimit), "maxDownloads", $"maxDownloads must be between 1 and {MaxDownloadLimit}.")
            .Require(command.Version is null or > 0, "version", "version must be a positive number.")
            .ThrowIfInvalid();
        // Hashing is deliberately slow: done before the transaction, not while holding a connection.
        var passwordHash = command.Password is null ? null : ShareLinkSecret.Hasher.HashPassword(ShareLinkSecret.Instance, command.Password);
        var token = ShareTokens.New();
        var id = Guid.CreateVersion7();
        var share = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            if (!(await Billing.TenantPlans.LimitsAsync(c, tx, me.TenantId, ct)).Allows(Billing.PlanFeatures.ShareLinks))
            {
                throw Billing.TenantPlans.FeatureUnavailable("Share links");
            }
            var settings = await ShareSettingsStore.ReadAsync(c, tx, me.TenantId, options.Value.Sharing, ct);
            if (!settings.Enabled)
            {
                throw ApiProblem.Forbidden("share.disabled", "Share links are turned off for this organisation.");
            }
            if (command.ExpiresAt > now.AddDays(settings.MaxDays))
            {
                throw ApiProblem.Validation("expiresAt", $"expiresAt may be at most {settings.MaxDays} days ahead (the organisation's maximum).");
            }
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, command.DocumentId, WorkspaceAction.Read, ct);
            var current = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition(
                $"SELECT current_version FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()})",
                new { tenant = me.TenantId, command.DocumentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
            var version = command.Version ?? current;
            if (!await c.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM document_versions WHERE tenant_id = @tenant AND document_id = @documentId AND number = @version)",
                new { tenant = me.TenantId, command.DocumentId, version }, tx, cancellationToken: ct)))
            {
                throw ApiProblem.NotFound("version");
            }
            var row = await c.QuerySingleAsync<ShareRow>(new CommandDefinition($"""
                INSERT INTO share_links (tenant_id, id, document_id, version_number, token_hash, password_hash, expires_at, max_downloads, created_at, created_by)
                VALUES (@tenant, @id, @documentId, @version, @hash, @passwordHash, @expiresAt, @maxDownloads, @now, @user)
                RETURNING {ShareRow.Columns}
                """, new
            {
                tenant = me.TenantId,
                id,
                command.DocumentId,
                version,
                hash = ShareTokens.Hash(token),
                passwordHash,
                expiresAt = command.ExpiresAt!.Value.UtcDateTime,
                maxDownloads = command.MaxDownloads,
                now = now.UtcDateTime,
                user = me.UserId,
            }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "share.created", "document", command.DocumentId, new
            {
                shareId = id,
                version,
                expiresAt = row.ExpiresAt,
                hasPassword = passwordHash is not null,
                maxDownloads = command.MaxDownloads,
            }, ct: ct);
            return row;
        }, ct);
        return new CreatedShare(token, share.ToResponse(now));
    }
}

internal sealed record ListShares(Guid DocumentId);

/// <summary>A document's links, newest first, for anyone who may read the document.</summary>
internal sealed class ListSharesHandler(Db db, TimeProvider clock) : IHandler<ListShares, ItemsResponse<ShareResponse>>
{
    public async Task<ItemsResponse<ShareResponse>> HandleAsync(ListShares query, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var rows = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, query.DocumentId, WorkspaceAction.Read, ct);
            return (await c.QueryAsync<ShareRow>(new CommandDefinition(
                $"SELECT {ShareRow.Columns} FROM share_links WHERE tenant_id = @tenant AND document_id = @documentId ORDER BY created_at DESC, id DESC LIMIT 500",
                new { tenant = me.TenantId, query.DocumentId }, tx, cancellationToken: ct))).ToList();
        }, ct);
        return new ItemsResponse<ShareResponse>([.. rows.Select(r => r.ToResponse(now))]);
    }
}

internal sealed record RevokeShare(Guid ShareId);

/// <summary>Ends a link for good: its creator or an admin (who must still be able to read the document). Revoking twice is a no-op.</summary>
internal sealed class RevokeShareHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<RevokeShare, ShareResponse>
{
    public async Task<ShareResponse> HandleAsync(RevokeShare command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var row = await c.QuerySingleOrDefaultAsync<ShareRow>(new CommandDefinition(
                $"SELECT {ShareRow.Columns} FROM share_links WHERE tenant_id = @tenant AND id = @id FOR UPDATE",
                new { tenant = me.TenantId, id = command.ShareId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("share");
            // A link to a document the caller cannot read does not exist for them.
            try
            {
                await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, row.DocumentId, WorkspaceAction.Read, ct);
            }
            catch (ApiProblem problem) when (problem.Status == StatusCodes.Status404NotFound)
            {
                throw ApiProblem.NotFound("share");
            }
            if (row.CreatedBy != me.UserId && !me.IsAdmin)
            {
                throw ApiProblem.Forbidden("share.not_yours", "Only the person who made a link, or an admin, can revoke it.");
            }
            if (!ShareLinkStates.CanRevoke(row.StatusAt(now)))
            {
                return row.ToResponse(now);
            }
            var revoked = await c.QuerySingleAsync<ShareRow>(new CommandDefinition(
                $"UPDATE share_links SET revoked_at = @now, revoked_by = @user WHERE tenant_id = @tenant AND id = @id RETURNING {ShareRow.Columns}",
                new { tenant = me.TenantId, id = row.Id, now = now.UtcDateTime, user = me.UserId }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "share.revoked", "document", row.DocumentId, new { shareId = row.Id }, ct: ct);
            return revoked.ToResponse(now);
        }, ct);
    }
}

internal sealed record GetShareSettings;

internal sealed class GetShareSettingsHandler(Db db, IOptions<DmsOptions> options) : IHandler<GetShareSettings, ShareSettingsResponse>
{
    public Task<ShareSettingsResponse> HandleAsync(GetShareSettings query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => ShareSettingsStore.ReadAsync(c, tx, me.TenantId, options.Value.Sharing, ct), ct);
}

/// <summary>Null keeps the current value.</summary>
internal sealed record ChangeShareSettings(bool? Enabled, int? MaxDays);

/// <summary>
/// Turns sharing on or off for the tenant and sets the longest a link may live (admins, audited). Off: no new links, and
/// existing ones answer 410 until it is turned on again (they are not revoked; a link still within its expiry works again).
/// </summary>
internal sealed class ChangeShareSettingsHandler(Db db, AuditTrail audit, IOptions<DmsOptions> options) : IHandler<ChangeShareSettings, ShareSettingsResponse>
{
    public async Task<ShareSettingsResponse> HandleAsync(ChangeShareSettings command, CurrentUser me, CancellationToken ct)
    {
        new Validator().Require(command.MaxDays is null or (>= 1 and <= 3650), "maxDays", "maxDays must be between 1 and 3650.").ThrowIfInvalid();
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var current = await ShareSettingsStore.ReadAsync(c, tx, me.TenantId, options.Value.Sharing, ct);
            var next = new ShareSettingsResponse(command.Enabled ?? current.Enabled, command.MaxDays ?? current.MaxDays);
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO share_settings (tenant_id, enabled, max_days, updated_by) VALUES (@tenant, @enabled, @maxDays, @user)
                ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled, max_days = excluded.max_days, updated_at = now(), updated_by = excluded.updated_by
                """, new { tenant = me.TenantId, enabled = next.Enabled, maxDays = next.MaxDays, user = me.UserId }, tx, cancellationToken: ct));
            if (next != current)
            {
                await audit.RecordAsync(c, tx, "share.settings_changed", "tenant", me.TenantId, new { next.Enabled, next.MaxDays }, ct: ct);
            }
            return next;
        }, ct);
    }
}
