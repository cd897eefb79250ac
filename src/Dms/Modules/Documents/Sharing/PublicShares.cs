using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Download;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Sharing;

/// <summary>What the public page shows: the file's name and size, and whether a password is asked. Nothing else.</summary>
internal sealed record SharedFile(string FileName, long Size, bool PasswordRequired);

/// <summary>
/// The public side of share links, for callers who are nobody: the token is the only credential. The tenant comes from
/// the token (the <c>share_link_lookup</c> definer function), and everything after that runs inside that tenant under
/// row-level security. Every access, allowed or refused, is audited as <c>share.accessed</c> with the client address.
/// Refusals: 404 for a token that does not exist; 410 for a link that is revoked, expired, used up, whose document
/// was deleted, or whose tenant turned sharing off; 401 for a missing or wrong password; 429 over the rate limits.
/// </summary>
internal sealed class PublicShares(Db db, AuditTrail audit, TimeProvider clock, IOptions<DmsOptions> options, ShareRateLimiter limiter,
    IHttpContextAccessor accessor)
{
    /// <summary>The token is in the address: no referrer carries it elsewhere, no search engine keeps it, no cache stores the answer.</summary>
    public static void NoTraceHeaders(HttpResponse response)
    {
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["X-Robots-Tag"] = "noindex, nofollow";
        response.Headers.CacheControl = "no-store";
    }

    private sealed record Found(Guid TenantId, Guid ShareId);

    private sealed record Link(Guid TenantId, ShareRow Row, DownloadableVersion File, bool DocumentLive, bool SharingEnabled);

    /// <summary>The page: what is shared, recorded as a view.</summary>
    public async Task<SharedFile> OpenAsync(string token, CancellationToken ct)
    {
        var link = await FindAsync(token, "view", ct);
        await RecordAsync(link, "view", "shown", ct);
        return new SharedFile(link.File.FileName, link.File.Size, link.Row.PasswordHash is not null);
    }

    /// <summary>
    /// A download: the password when the link has one, then one download counted atomically against the limit (the
    /// UPDATE's own condition, so exactly the limit succeed however many ask at once). Counted before the bytes are
    /// sent: a download that breaks off midway still counts.
    /// </summary>
    public async Task<DownloadableVersion> DownloadAsync(string token, string? password, CancellationToken ct)
    {
        var link = await FindAsync(token, "download", ct);
        if (link.Row.PasswordHash is { } hash)
        {
            if (string.IsNullOrEmpty(password))
            {
                await RecordAsync(link, "download", "password_missing", ct);
                throw new ApiProblem(StatusCodes.Status401Unauthorized, "share.password_required", "This link needs its password.");
            }
            // PasswordHasher compares in constant time.
            if (ShareLinkSecret.Hasher.VerifyHashedPassword(ShareLinkSecret.Instance, hash, password) == PasswordVerificationResult.Failed)
            {
                await RecordAsync(link, "download", "password_wrong", ct);
                throw new ApiProblem(StatusCodes.Status401Unauthorized, "share.password_wrong", "The password is not right.");
            }
        }
        var now = clock.GetUtcNow();
        var refused = await db.InTenantAsync(link.TenantId, async (c, tx) =>
        {
            var downloads = await c.QuerySingleOrDefaultAsync<int?>(new CommandDefinition("""
                UPDATE share_links SET downloads = downloads + 1
                WHERE tenant_id = @tenant AND id = @id AND revoked_at IS NULL AND expires_at > @now
                  AND (max_downloads IS NULL OR downloads < max_downloads)
                RETURNING downloads
                """, new { tenant = link.TenantId, id = link.Row.Id, now = now.UtcDateTime }, tx, cancellationToken: ct));
            ShareLinkStatus? why = null;
            if (downloads is null)
            {
                // Revoked, expired or used up between the look and the count (the 51st of 50 parallel downloads).
                var row = await c.QuerySingleAsync<ShareRow>(new CommandDefinition(
                    $"SELECT {ShareRow.Columns} FROM share_links WHERE tenant_id = @tenant AND id = @id",
                    new { tenant = link.TenantId, id = link.Row.Id }, tx, cancellationToken: ct));
                why = row.StatusAt(now) is ShareLinkStatus.Active ? ShareLinkStatus.UsedUp : row.StatusAt(now);
            }
            await Record(c, tx, link, "download", why is { } status ? Outcome(status) : "allowed", downloads, ct);
            return why;
        }, ct);
        if (refused is { } reason)
        {
            throw Gone(reason);
        }
        return link.File;
    }

    private async Task<Link> FindAsync(string token, string kind, CancellationToken ct)
    {
        var hash = ShareTokens.Hash(token) ?? throw ApiProblem.NotFound("share");
        limiter.Acquire(hash);
        var found = await db.WithoutTenantAsync(c => c.QuerySingleOrDefaultAsync<Found>(new CommandDefinition(
            "SELECT tenant_id AS TenantId, share_id AS ShareId FROM share_link_lookup(@hash)", new { hash }, cancellationToken: ct)), ct)
            ?? throw ApiProblem.NotFound("share");
        var now = clock.GetUtcNow();
        var link = await db.InTenantAsync(found.TenantId, async (c, tx) =>
        {
            var row = await c.QuerySingleAsync<ShareRow>(new CommandDefinition(
                $"SELECT {ShareRow.Columns} FROM share_links WHERE tenant_id = @tenant AND id = @id",
                new { tenant = found.TenantId, id = found.ShareId }, tx, cancellationToken: ct));
            var file = await c.QuerySingleAsync<DownloadableVersion>(new CommandDefinition("""
                SELECT number, blob_key, size, content_type, file_name, sha256, created_at FROM document_versions
                WHERE tenant_id = @tenant AND document_id = @documentId AND number = @version
                """, new { tenant = found.TenantId, row.DocumentId, version = row.VersionNumber }, tx, cancellationToken: ct));
            var live = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
                $"SELECT EXISTS (SELECT 1 FROM documents WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()}))",
                new { tenant = found.TenantId, row.DocumentId }, tx, cancellationToken: ct));
            var settings = await ShareSettingsStore.ReadAsync(c, tx, found.TenantId, options.Value.Sharing, ct);
            return new Link(found.TenantId, row, file, live, settings.Enabled);
        }, ct);
        var status = link.Row.StatusAt(now);
        var refusal = !link.SharingEnabled || !link.DocumentLive ? "unavailable"
            : status is ShareLinkStatus.Revoked or ShareLinkStatus.Expired or ShareLinkStatus.UsedUp ? Outcome(status)
            : null;
        if (refusal is not null)
        {
            await RecordAsync(link, kind, refusal, ct);
            throw !link.SharingEnabled || !link.DocumentLive
                ? new ApiProblem(StatusCodes.Status410Gone, "share.unavailable", "This link is no longer available.")
                : Gone(status);
        }
        return link;
    }

    private static ApiProblem Gone(ShareLinkStatus status) => status switch
    {
        ShareLinkStatus.Revoked => new(StatusCodes.Status410Gone, "share.revoked", "This link was withdrawn."),
        ShareLinkStatus.Expired => new(StatusCodes.Status410Gone, "share.expired", "This link has expired."),
        _ => new(StatusCodes.Status410Gone, "share.used_up", "This link has reached its download limit."),
    };

    private Task RecordAsync(Link link, string kind, string outcome, CancellationToken ct) =>
        db.InTenantAsync(link.TenantId, (c, tx) => Record(c, tx, link, kind, outcome, null, ct), ct);

    private Task Record(Npgsql.NpgsqlConnection c, Npgsql.NpgsqlTransaction tx, Link link, string kind, string outcome, int? downloads, CancellationToken ct) =>
        audit.RecordAsync(c, tx, "share.accessed", "document", link.Row.DocumentId, new
        {
            shareId = link.Row.Id,
            version = link.Row.VersionNumber,
            kind,
            outcome,
            downloads,
            address = accessor.HttpContext?.Connection.RemoteIpAddress?.ToString(),
        }, AuditActor.Anonymous($"share link {link.Row.Id}"), ct);

    private static string Outcome(ShareLinkStatus status) => status switch
    {
        ShareLinkStatus.Revoked => "revoked",
        ShareLinkStatus.Expired => "expired",
        ShareLinkStatus.UsedUp => "used_up",
        _ => "allowed",
    };
}
