using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

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
        var (appConnection, ownerConnection) = await cluster.CreateDatabaseAsync("dms_fs");
        var app = new DmsApp(appConnection, ownerConnection, "fs", await SharedBouncerAsync(), new Dictionary<string, string>
        {
            // Small parts so multipart direct uploads are exercised with small files.
            ["Dms:Uploads:MultipartThreshold"] = "131072",
            ["Dms:Uploads:PartSize"] = "65536",
            // LibreOffice takes seconds per text file: the previews have an app of their own (tests/Dms.Tests/Previews).
            ["Dms:Previews:Enabled"] = "false",
        });
        _ = app.Server; // start now, so the first test does not pay for migrations inside its own timing
        return app;
    });

    private static readonly Lazy<Task<DmsApp>> SharedS3 = new(async () =>
    {
        var cluster = await TestCluster.GetAsync();
        var moto = await MotoServer.GetAsync();
        var (appConnection, ownerConnection) = await cluster.CreateDatabaseAsync("dms_s3");
        var app = new DmsApp(appConnection, ownerConnection, "s3", await SharedBouncerAsync(), new Dictionary<string, string>
        {
            ["Dms:Storage:Provider"] = "S3",
            ["Dms:Storage:S3:ServiceUrl"] = moto.ToString(),
            ["Dms:Storage:S3:Bucket"] = "dms-tests",
            ["Dms:Storage:S3:AccessKey"] = "test",
            ["Dms:Storage:S3:SecretKey"] = "test",
            ["Dms:Storage:S3:ForcePathStyle"] = "true",
            ["Dms:Previews:Enabled"] = "false",
            ["Dms:Uploads:MaxBytes"] = (64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            // S3 parts are at least 5 MiB (except the last).
            ["Dms:Uploads:MultipartThreshold"] = (6 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Dms:Uploads:PartSize"] = (5 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        _ = app.Server;
        return app;
    });

    /// <summary>
    /// An app of its own (own database, own storage folder) for tests that break things: its outbox and
    /// jobs cannot touch the shared apps' tenants.
    /// </summary>
    /// <param name="bouncer">A PgBouncer of the test's own for the runtime connection; else the shared one when
    /// <c>DMS_TEST_PGBOUNCER=1</c>, else none.</param>
    public static async Task<DmsApp> CreateIsolatedAsync(string name, IReadOnlyDictionary<string, string> settings,
        Action<IServiceCollection>? services = null, PgBouncerServer? bouncer = null)
    {
        var cluster = await TestCluster.GetAsync();
        var (appConnection, ownerConnection) = await cluster.CreateDatabaseAsync($"dms_{name}");
        var merged = new Dictionary<string, string>(FastOutbox);
        foreach (var (key, value) in settings)
        {
            merged[key] = value;
        }
        var app = new DmsApp(appConnection, ownerConnection, name, bouncer ?? await SharedBouncerAsync(), merged) { _services = services };
        _ = app.Server;
        return app;
    }

    /// <summary>The outbox of test apps polls often and retries quickly, so tests wait milliseconds, not seconds.</summary>
    private static readonly IReadOnlyDictionary<string, string> FastOutbox = new Dictionary<string, string>
    {
        // The suite signs in and uploads far more often than any person: the limits get their own test app.
        ["Dms:Security:LoginRateLimit:PermitLimit"] = "1000000",
        ["Dms:Security:UploadRateLimit:PermitLimit"] = "1000000",
        ["Dms:Outbox:PollInterval"] = "00:00:00.100",
        ["Dms:Outbox:BaseBackoff"] = "00:00:00.100",
        ["Dms:Outbox:MaxBackoff"] = "00:00:01",
        // The database gauges are process-wide (one app per process in production): test apps sample once at start and
        // then only when a test asks (TelemetryTests), so the app under test is the one /metrics reports.
        ["Dms:Metrics:SampleInterval"] = "01:00:00",
    };

    private readonly string _appConnection;
    private readonly string _ownerConnection;
    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly PgBouncerServer? _bouncer;
    private Action<IServiceCollection>? _services;

    private static async Task<PgBouncerServer?> SharedBouncerAsync() => PgBouncerServer.Enabled ? await PgBouncerServer.GetAsync() : null;

    private DmsApp(string appConnection, string ownerConnection, string name, PgBouncerServer? bouncer, IReadOnlyDictionary<string, string> settings)
    {
        _appConnection = appConnection;
        _bouncer = bouncer;
        _ownerConnection = ownerConnection;
        _settings = settings;
        DataDirectory = Path.Combine(TestCluster.Root, $"app-{name}");
    }

    /// <summary>The app on S3 storage (moto), sharing the test cluster with the FileSystem app.</summary>
    public static Task<DmsApp> GetS3Async() => SharedS3.Value;

    public bool UsesS3 => _settings.ContainsKey("Dms:Storage:Provider");

    public static Task<DmsApp> GetAsync() => Shared.Value;

    public string DataDirectory { get; }
    public string BlobRoot => Path.Combine(DataDirectory, "blobs");
    /// <summary>The runtime role straight to PostgreSQL (also the app's <c>ConnectionStrings:DmsDirect</c> behind a PgBouncer).</summary>
    public string AppConnectionString => _appConnection;

    /// <summary>The PgBouncer the app's runtime connection goes through, if any.</summary>
    public PgBouncerServer? Bouncer => _bouncer;
    public string OwnerConnectionString => _ownerConnection;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in FastOutbox)
        {
            builder.UseSetting(key, value);
        }
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        // Behind a PgBouncer (transaction pooling) only session-level work keeps a direct connection (ADR 0034).
        builder.UseSetting("ConnectionStrings:Dms", _bouncer?.Through(_appConnection) ?? _appConnection);
        if (_bouncer is not null)
        {
            builder.UseSetting("ConnectionStrings:DmsDirect", _appConnection);
        }
        builder.UseSetting("ConnectionStrings:DmsOwner", _ownerConnection);
        builder.UseSetting("Dms:DataDirectory", DataDirectory);
        builder.UseSetting("Dms:Platform:ApiKey", PlatformKey);
        builder.UseSetting("Dms:Bootstrap:AdminPassword", "bootstrap-password-1");
        if (!_settings.ContainsKey("Dms:Uploads:MaxBytes"))
        {
            builder.UseSetting("Dms:Uploads:MaxBytes", MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (!_settings.ContainsKey("Logging:LogLevel:Default"))
        {
            // Information reaches the run log (RunLog, scanned for secrets by test.sh); the console stays at Warning.
            builder.UseSetting("Logging:LogLevel:Default", Environment.GetEnvironmentVariable("DMS_TEST_APP_LOGS") is { Length: > 0 } ? "Information" : "Warning");
        }
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(RunLog.Provider);
            services.Configure<Microsoft.Extensions.Logging.LoggerFilterOptions>(o => o.Rules.Add(new Microsoft.Extensions.Logging.LoggerFilterRule(
                typeof(Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider).FullName, null, Microsoft.Extensions.Logging.LogLevel.Warning, null)));
        });
        if (_services is { } services)
        {
            builder.ConfigureTestServices(services);
        }
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

    /// <summary>A client that sends the platform operator's key (plans, tenants).</summary>
    public HttpClient PlatformClient()
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Add("X-Platform-Key", PlatformKey);
        return client;
    }

    /// <summary>
    /// Defines a plan with a unique name (null limits: none) and gives it to <paramref name="tenant"/>; the tenant starts its
    /// trial. Returns the plan's id.
    /// </summary>
    public async Task<Guid> GivePlanAsync(TestTenant tenant, int? seats = null, long? storageBytes = null, long? maxFileBytes = null,
        IReadOnlyDictionary<string, bool>? features = null)
    {
        using var platform = PlatformClient();
        using var created = await platform.PostAsJsonAsync("/api/v1/platform/plans",
            new { name = $"plan-{Guid.NewGuid():N}", seats, storageBytes, maxFileBytes, features });
        await created.ShouldHaveStatusAsync(System.Net.HttpStatusCode.Created);
        var planId = (await created.Content.ReadFromJsonAsync<CreatedPlan>())!.Id;
        using var assigned = await platform.PutAsJsonAsync($"/api/v1/platform/tenants/{tenant.Slug}/plan", new { planId });
        await assigned.ShouldHaveStatusAsync(System.Net.HttpStatusCode.OK);
        return planId;
    }

    private sealed record CreatedPlan(Guid Id);

    /// <summary>
    /// A client for a URL the API handed out: the in-memory test server for its own signed URLs, a real
    /// HTTP client for S3 presigned URLs.
    /// </summary>
    public async Task<HttpResponseMessage> SendToUrlAsync(HttpMethod method, Uri url, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, url.Host is "localhost" ? new Uri(url.PathAndQuery, UriKind.Relative) : url) { Content = content };
        if (url.Host is "localhost")
        {
            return await CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }).SendAsync(request);
        }
        using var http = new HttpClient();
        return await http.SendAsync(request);
    }

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    public HttpClient ClientWithTokenNoRedirect(string accessToken)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return client;
    }

    public HttpClient ClientWithToken(string accessToken)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return client;
    }

    private sealed record CreatedTenant(Guid Id, string Slug, Guid AdminUserId, Guid DefaultWorkspaceId);
}
