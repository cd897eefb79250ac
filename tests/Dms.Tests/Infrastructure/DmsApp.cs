using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Dms.Tests.Infrastructure;

/// <summary>
/// The application under test, hosted once per test run over the shared throwaway cluster. Test
/// classes share it and isolate themselves by working in tenants of their own.
/// </summary>
internal sealed class DmsApp : WebApplicationFactory<Program>
{
    public const string PlatformKey = "test-platform-key-0123456789";
    public const long MaxUploadBytes = 256 * 1024;

    private static readonly Lazy<Task<DmsApp>> Shared = new(async () =>
    {
        var cluster = await TestCluster.GetAsync();
        var app = new DmsApp(cluster.AppConnectionString, cluster.OwnerConnectionString);
        _ = app.Server; // start now, so the first test does not pay for migrations inside its own timing
        return app;
    });

    private readonly string _appConnection;
    private readonly string _ownerConnection;

    private DmsApp(string appConnection, string ownerConnection)
    {
        _appConnection = appConnection;
        _ownerConnection = ownerConnection;
    }

    public static Task<DmsApp> GetAsync() => Shared.Value;

    public string DataDirectory { get; } = Path.Combine(TestCluster.Root, "app");
    public string BlobRoot => Path.Combine(DataDirectory, "blobs");
    public string AppConnectionString => _appConnection;
    public string OwnerConnectionString => _ownerConnection;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:Dms", _appConnection);
        builder.UseSetting("ConnectionStrings:DmsOwner", _ownerConnection);
        builder.UseSetting("Dms:DataDirectory", DataDirectory);
        builder.UseSetting("Dms:Platform:ApiKey", PlatformKey);
        builder.UseSetting("Dms:Bootstrap:AdminPassword", "bootstrap-password-1");
        builder.UseSetting("Dms:Uploads:MaxBytes", MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
    }

    /// <summary>Creates a tenant through the platform API and signs its admin in.</summary>
    public async Task<TestTenant> CreateTenantAsync()
    {
        var slug = $"t-{Guid.NewGuid():N}"[..20];
        var password = $"pw-{Guid.NewGuid():N}";
        var client = CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/platform/tenants")
        {
            Content = JsonContent.Create(new { slug, name = $"Tenant {slug}", adminEmail = "admin@example.test", adminPassword = password }),
        };
        request.Headers.Add("X-Platform-Key", PlatformKey);
        using var response = await client.SendAsync(request);
        await response.ShouldHaveStatusAsync(System.Net.HttpStatusCode.Created);
        var created = (await response.Content.ReadFromJsonAsync<CreatedTenant>())!;
        var tenant = new TestTenant(this, created.Id, slug, created.DefaultWorkspaceId);
        tenant.Admin = await tenant.SignInAsync("admin@example.test", password);
        return tenant;
    }

    public HttpClient ClientWithToken(string accessToken)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return client;
    }

    private sealed record CreatedTenant(Guid Id, string Slug, Guid AdminUserId, Guid DefaultWorkspaceId);
}
