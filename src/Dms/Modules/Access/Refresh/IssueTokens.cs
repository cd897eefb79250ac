using Dapper;
using Dms.Modules.Access.Login;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Access.Refresh;

/// <summary>Issues an access token with a refresh token; refresh tokens of one login form a family.</summary>
internal sealed class IssueTokens(Db db, TokenService tokens, IOptions<DmsOptions> options, TimeProvider clock)
{
    public Task<TokenResponse> NewFamilyAsync(Guid tenantId, Guid userId, string role, string email, CancellationToken ct) =>
        db.InTenantAsync(tenantId, (c, tx) => InFamilyAsync(c, tx, tenantId, userId, role, email, Guid.CreateVersion7(), ct), ct);

    public async Task<TokenResponse> InFamilyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid userId,
        string role, string email, Guid familyId, CancellationToken ct)
    {
        var refresh = RefreshTokens.Create(tenantId);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at)
            VALUES (@id, @tenantId, @userId, @familyId, @hash, @expiresAt)
            """,
            new
            {
                id = Guid.CreateVersion7(),
                tenantId,
                userId,
                familyId,
                hash = RefreshTokens.Hash(refresh),
                expiresAt = clock.GetUtcNow().UtcDateTime + options.Value.Auth.RefreshTokenLifetime,
            }, tx, cancellationToken: ct));
        var (access, expiresIn) = tokens.IssueAccessToken(userId, tenantId, role, email);
        return new TokenResponse(access, refresh, expiresIn);
    }
}
