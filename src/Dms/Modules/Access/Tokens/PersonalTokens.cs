using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Access.Tokens;

internal sealed record CreateTokenRequest(string? Name, DateTimeOffset? ExpiresAt, string[]? Scopes);

/// <summary>A token as listed (never with its value). A class: Dapper binds text[] to properties, not to constructor parameters.</summary>
internal sealed class TokenInfo
{
    public Guid Id { get; init; }
    public string Name { get; init; } = "";
    public string[] Scopes { get; init; } = [];
    public DateTime CreatedAt { get; init; }
    public DateTime ExpiresAt { get; init; }
    public DateTime? LastUsedAt { get; init; }
    public DateTime? RevokedAt { get; init; }
}

/// <summary>
/// Personal API tokens for scripts and integrations: <c>POST/GET /me/tokens</c>, <c>DELETE /me/tokens/{id}</c>.
/// The value <c>dms_pat_{tenant}_{random}</c> is shown once and stored as SHA-256; it acts as its owner
/// (with the owner's current role), optionally limited to reading (<c>scopes: ["read"]</c>).
/// </summary>
internal static class PersonalTokens
{
    public const string Prefix = "dms_pat_";
    public const string Scheme = "PersonalToken";
    public const string ReadScope = "read";
    private static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(366);

    public static async Task<IResult> Create(HttpContext http, CreateTokenRequest body, Db db, AuditTrail audit, TimeProvider clock, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var now = clock.GetUtcNow();
        var scopes = (body.Scopes ?? []).Select(s => s?.Trim().ToLowerInvariant()).Distinct().ToArray();
        new Validator()
            .Require(body.Name?.Trim() is { Length: > 0 and <= 100 } && !body.Name.Any(char.IsControl), "name", "name is 1-100 characters, not only spaces.")
            .Require(body.ExpiresAt is { } e && e > now && e <= now + MaxLifetime, "expiresAt", "expiresAt is required, in the future and at most a year ahead.")
            .Require(scopes.All(s => s == ReadScope), "scopes", "scopes may be empty (everything the owner may do) or [\"read\"].")
            .ThrowIfInvalid();
        if (http.User.FindFirst(DmsClaims.TokenId) is not null)
        {
            throw ApiProblem.Forbidden("auth.token_cannot_create_tokens", "Create personal tokens after signing in, not with another token.");
        }
        var id = Guid.CreateVersion7();
        var value = $"{Prefix}{me.TenantId:N}_{WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32))}";
        var info = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var created = await c.QuerySingleAsync<TokenInfo>(new CommandDefinition("""
                INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, scopes, expires_at)
                VALUES (@id, @tenant, @user, @name, @hash, @scopes, @expiresAt)
                RETURNING id, name, scopes, created_at, expires_at, last_used_at, revoked_at
                """, new { id, tenant = me.TenantId, user = me.UserId, name = body.Name!.Trim(), hash = Hash(value), scopes = scopes.OfType<string>().ToArray(), expiresAt = body.ExpiresAt!.Value.UtcDateTime },
                tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "token.created", "api_token", id, new { created.Name, created.Scopes, created.ExpiresAt }, ct: ct);
            return created;
        }, ct);
        return Results.Created($"/api/v1/me/tokens/{id}", new { info.Id, info.Name, info.Scopes, info.CreatedAt, info.ExpiresAt, token = value });
    }

    public static async Task<IResult> List(HttpContext http, Db db, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var items = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<TokenInfo>(new CommandDefinition(
            "SELECT id, name, scopes, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE tenant_id = @tenant AND user_id = @user ORDER BY created_at DESC",
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct);
        return Results.Ok(new { items });
    }

    public static async Task<IResult> Revoke(HttpContext http, string id, Db db, AuditTrail audit, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var tokenId = RouteIds.Parse(id);
        var revoked = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var count = await c.ExecuteAsync(new CommandDefinition(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id = @tenant AND user_id = @user AND id = @tokenId",
                new { tenant = me.TenantId, user = me.UserId, tokenId }, tx, cancellationToken: ct));
            if (count == 1)
            {
                await audit.RecordAsync(c, tx, "token.revoked", "api_token", tokenId, ct: ct);
            }
            return count;
        }, ct);
        return revoked == 1 ? Results.NoContent() : throw ApiProblem.NotFound("token");
    }

    public static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));

    public static bool TryParseTenant(string value, out Guid tenant)
    {
        tenant = Guid.Empty;
        return value.StartsWith(Prefix, StringComparison.Ordinal) && value.Length is > 50 and < 200 && value[Prefix.Length + 32] == '_' &&
               Guid.TryParseExact(value.AsSpan(Prefix.Length, 32), "N", out tenant);
    }
}

/// <summary>Authenticates <c>Authorization: Bearer dms_pat_…</c> against the stored hash, as the token's owner.</summary>
internal sealed class PersonalTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, Db db)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private sealed class Owner
    {
        public Guid TokenId { get; init; }
        public Guid UserId { get; init; }
        public string Email { get; init; } = "";
        public string Role { get; init; } = "";
        public string[] Scopes { get; init; } = [];
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }
        var value = header["Bearer ".Length..].Trim();
        if (!PersonalTokens.TryParseTenant(value, out var tenant))
        {
            return AuthenticateResult.Fail("Malformed personal token.");
        }
        var owner = await db.InTenantAsync(tenant, async (c, tx) =>
        {
            var found = await c.QuerySingleOrDefaultAsync<Owner>(new CommandDefinition("""
                SELECT t.id AS token_id, u.id AS user_id, u.email, u.role, t.scopes
                FROM api_tokens t JOIN users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id
                WHERE t.tenant_id = @tenant AND t.token_hash = @hash AND t.revoked_at IS NULL AND t.expires_at > now() AND NOT u.disabled
                """, new { tenant, hash = PersonalTokens.Hash(value) }, tx, cancellationToken: Context.RequestAborted));
            if (found is not null)
            {
                await c.ExecuteAsync(new CommandDefinition(
                    "UPDATE api_tokens SET last_used_at = now() WHERE tenant_id = @tenant AND id = @id AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
                    new { tenant, id = found.TokenId }, tx, cancellationToken: Context.RequestAborted));
            }
            return found;
        }, Context.RequestAborted);
        if (owner is null)
        {
            return AuthenticateResult.Fail("Unknown, expired or revoked personal token.");
        }
        var claims = new List<Claim>
        {
            new(DmsClaims.Subject, owner.UserId.ToString()),
            new(DmsClaims.Tenant, tenant.ToString()),
            new(DmsClaims.Role, owner.Role),
            new(DmsClaims.Email, owner.Email),
            new(DmsClaims.TokenId, owner.TokenId.ToString()),
        };
        claims.AddRange(owner.Scopes.Select(s => new Claim("scope", s)));
        var identity = new ClaimsIdentity(claims, PersonalTokens.Scheme, DmsClaims.Email, DmsClaims.Role);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), PersonalTokens.Scheme));
    }
}
