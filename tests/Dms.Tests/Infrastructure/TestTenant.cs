using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Dms.Tests.Infrastructure;

/// <summary>A tenant of one's own inside the shared app, with a signed-in admin client.</summary>
internal sealed class TestTenant(DmsApp app, Guid id, string slug, Guid defaultWorkspaceId)
{
    public DmsApp App { get; } = app;
    public Guid Id { get; } = id;
    public string Slug { get; } = slug;
    public Guid DefaultWorkspaceId { get; } = defaultWorkspaceId;
    public SignedIn Admin { get; set; } = null!;

    public async Task<SignedIn> SignInAsync(string email, string password)
    {
        using var response = await App.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = Slug, email, password });
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var tokens = (await response.Content.ReadFromJsonAsync<Tokens>())!;
        return new SignedIn(App.ClientWithToken(tokens.AccessToken), tokens, email, password);
    }

    /// <summary>Creates a user with <paramref name="role"/> through the API and signs them in.</summary>
    public async Task<SignedIn> CreateUserAsync(string role, string? email = null)
    {
        email ??= $"{role.ToLowerInvariant()}-{Guid.NewGuid():N}"[..24] + "@example.test";
        var password = $"pw-{Guid.NewGuid():N}";
        using var response = await Admin.Client.PostAsJsonAsync("/api/v1/users", new { email, password, role });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var user = await response.Content.ReadFromJsonAsync<JsonElement>();
        var signedIn = await SignInAsync(email, password);
        signedIn.UserId = user.GetProperty("id").GetGuid();
        return signedIn;
    }
}

internal sealed record Tokens(string AccessToken, string RefreshToken, int ExpiresIn, string TokenType);

internal sealed class SignedIn(HttpClient client, Tokens tokens, string email, string password)
{
    public HttpClient Client { get; } = client;
    public Tokens Tokens { get; } = tokens;
    public string Email { get; } = email;
    public string Password { get; } = password;
    public Guid UserId { get; set; }
}
