using System.Security.Cryptography;
using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Modules.Access.Tokens;

/// <param name="ViaToken">The caller authenticated with a personal token (which may not mint more of them).</param>
internal sealed record CreateToken(string? Name, DateTimeOffset? ExpiresAt, string[]? Scopes, bool ViaToken);

/// <summary>The new token's details and its value, which is never shown again.</summary>
internal sealed record CreatedToken(TokenInfo Info, string Value);

internal sealed record ListTokens;

internal sealed record RevokeToken(Guid TokenId);

internal sealed class CreateTokenHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<CreateToken, CreatedToken>
{
    public async Task<CreatedToken> HandleAsync(CreateToken command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var scopes = (command.Scopes ?? []).Select(s => s?.Trim().ToLowerInvariant()).Distinct().ToArray();
        new Validator()
            .Require(command.Name?.Trim() is { Length: > 0 and <= 100 } && !command.Name.Any(char.IsControl), "name", "name is 1-100 characters, not only spaces.")
            .Require(command.ExpiresAt is { } e && e > now && e <= now + PersonalTokens.MaxLifetime, "expiresAt", "expiresAt is required, in the future and at most a year ahead.")
            .Require(scopes.All(s => s == PersonalTokens.ReadScope), "scopes", "scopes may be empty (everything the owner may do) or [\"read\"].")
            .ThrowIfInvalid();
        if (command.ViaToken)
        {
            throw ApiProblem.Forbidden("auth.token_cannot_create_tokens", "Create personal tokens after signing in, not with another token.");
        }
        var id = Guid.CreateVersion7();
        var value = $"{PersonalTokens.Prefix}{me.TenantId:N}_{WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32))}";
        var info = await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var created = await c.QuerySingleAsync<TokenInfo>(new CommandDefinition("""
                INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, scopes, expires_at)
                VALUES (@id, @tenant, @user, @name, @hash, @scopes, @expiresAt)
                RETURNING id, name, scopes, created_at, expires_at, last_used_at, revoked_at
                """, new { id, tenant = me.TenantId, user = me.UserId, name = command.Name!.Trim(), hash = PersonalTokens.Hash(value), scopes = scopes.OfType<string>().ToArray(), expiresAt = command.ExpiresAt!.Value.UtcDateTime },
                tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "token.created", "api_token", id, new { created.Name, created.Scopes, created.ExpiresAt }, ct: ct);
            return created;
        }, ct);
        return new CreatedToken(info, value);
    }
}

/// <summary>The caller's own tokens, newest first, never with their values.</summary>
internal sealed class ListTokensHandler(Db db) : IHandler<ListTokens, IReadOnlyList<TokenInfo>>
{
    public async Task<IReadOnlyList<TokenInfo>> HandleAsync(ListTokens query, CurrentUser me, CancellationToken ct) =>
        (await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<TokenInfo>(new CommandDefinition(
            "SELECT id, name, scopes, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE tenant_id = @tenant AND user_id = @user ORDER BY created_at DESC",
            new { tenant = me.TenantId, user = me.UserId }, tx, cancellationToken: ct)), ct)).ToList();
}

/// <summary>Revokes one of the caller's tokens (again is fine) and answers true; 404 when the caller has no such token.</summary>
internal sealed class RevokeTokenHandler(Db db, AuditTrail audit) : IHandler<RevokeToken, bool>
{
    public async Task<bool> HandleAsync(RevokeToken command, CurrentUser me, CancellationToken ct)
    {
        var tokenId = command.TokenId;
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
        if (revoked != 1)
        {
            throw ApiProblem.NotFound("token");
        }
        return true;
    }
}
