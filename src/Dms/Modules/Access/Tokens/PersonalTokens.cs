using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Access.Tokens;

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
/// Personal API tokens for scripts and integrations. The value <c>dms_pat_{tenant}_{random}</c> is shown once and
/// stored as SHA-256; it acts as its owner (with the owner's current role), optionally limited to reading
/// (<c>scopes: ["read"]</c>). Created, listed and revoked by the handlers in this folder.
/// </summary>
internal static class PersonalTokens
{
    public const string Prefix = "dms_pat_";
    public const string Scheme = "PersonalToken";
    public const string ReadScope = TokenScopes.Read;
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(366);

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
        claims.AddRange(owner.Scopes.Select(s => new Claim(DmsClaims.Scope, s)));
        var identity = new ClaimsIdentity(claims, PersonalTokens.Scheme, DmsClaims.Email, DmsClaims.Role);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), PersonalTokens.Scheme));
    }
}
