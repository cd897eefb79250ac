using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Dms.Platform.Configuration;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Dms.Platform.Security;

/// <summary>Issues short-lived JWT access tokens and opaque refresh tokens.</summary>
internal sealed class TokenService(SigningKey signingKey, IOptions<DmsOptions> options, TimeProvider clock)
{
    public const string Audience = "dms-api";
    private readonly JsonWebTokenHandler _handler = new();

    public (string Token, int ExpiresIn) IssueAccessToken(Guid userId, Guid tenantId, string role, string email)
    {
        var lifetime = options.Value.Auth.AccessTokenLifetime;
        var now = clock.GetUtcNow().UtcDateTime;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Value.Auth.Issuer,
            Audience = Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Subject = new ClaimsIdentity(
            [
                new Claim(DmsClaims.Subject, userId.ToString()),
                new Claim(DmsClaims.Tenant, tenantId.ToString()),
                new Claim(DmsClaims.Role, role),
                new Claim(DmsClaims.Email, email),
                new Claim("jti", Guid.NewGuid().ToString("N")),
            ]),
            SigningCredentials = new SigningCredentials(signingKey.Key, SecurityAlgorithms.HmacSha256),
        });
        return (token, (int)lifetime.TotalSeconds);
    }

    public TokenValidationParameters ValidationParameters() => new()
    {
        ValidIssuer = options.Value.Auth.Issuer,
        ValidAudience = Audience,
        IssuerSigningKey = signingKey.Key,
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        NameClaimType = DmsClaims.Email,
        RoleClaimType = DmsClaims.Role,
        ClockSkew = TimeSpan.FromSeconds(30),
    };
}

/// <summary>
/// A refresh token is <c>{tenant id}.{random}</c>: the tenant part lets the server set the tenant
/// context before looking the token up; only a SHA-256 of the whole value is stored.
/// </summary>
internal static class RefreshTokens
{
    public static string Create(Guid tenantId) =>
        $"{tenantId:N}.{WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32))}";

    public static bool TryParseTenant(string? token, out Guid tenantId)
    {
        tenantId = Guid.Empty;
        return token is { Length: > 33 and < 200 } && token[32] == '.' && Guid.TryParseExact(token[..32], "N", out tenantId);
    }

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}

/// <summary>The HMAC key for access tokens: configured, or generated once into the data directory.</summary>
internal sealed class SigningKey
{
    public SigningKey(IOptions<DmsOptions> options)
    {
        var configured = options.Value.Auth.SigningKey;
        byte[] bytes;
        if (!string.IsNullOrWhiteSpace(configured))
        {
            bytes = Encoding.UTF8.GetBytes(configured);
            if (bytes.Length < 32)
            {
                throw new Database.StartupException("Dms__Auth__SigningKey must be at least 32 bytes long.");
            }
        }
        else
        {
            bytes = LoadOrCreate(Path.Combine(options.Value.DataDirectoryFullPath, "signing-key"));
        }
        Key = new SymmetricSecurityKey(bytes);
    }

    public SymmetricSecurityKey Key { get; }

    private static byte[] LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            return Convert.FromBase64String(File.ReadAllText(path).Trim());
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = RandomNumberGenerator.GetBytes(64);
        var temp = $"{path}.{Guid.NewGuid():N}";
        File.WriteAllText(temp, Convert.ToBase64String(key));
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            // Two processes starting together: the first rename wins, and both use what is on disk.
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException)
        {
            File.Delete(temp);
        }
        return Convert.FromBase64String(File.ReadAllText(path).Trim());
    }
}
