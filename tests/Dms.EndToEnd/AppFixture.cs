using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Playwright;
using Xunit;

namespace Dms.EndToEnd;

/// <summary>
/// The real server as its own process (<c>dotnet Dms.dll</c> on a free loopback port, with its embedded
/// PostgreSQL in a throwaway data directory) and Debian's Chromium driven by Playwright.
/// </summary>
public sealed class AppFixture : IAsyncLifetime
{
    public const string Tenant = "e2e";
    public const string AdminEmail = "admin@e2e.test";
    public const string AdminPassword = "Admin-Passw0rd!-e2e";

    /// <summary>The platform operator's key (plans) and the billing provider's signing secret, for the plan step.</summary>
    public const string PlatformKey = "e2e-platform-key-0123456789";
    public const string BillingSecret = "e2e-billing-secret-0123456789";

    private readonly StringBuilder _output = new();
    private Process? _server;
    private IPlaywright? _playwright;

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"dms-e2e-{Guid.NewGuid():N}"[..22]);
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1");
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>The repository root (where Dms.slnx is): screenshots and artifacts go below it.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Dms.slnx")))
                {
                    return dir.FullName;
                }
            }
            return Directory.GetCurrentDirectory();
        }
    }

    public string ServerOutput
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async Task InitializeAsync()
    {
        var chromium = ChromiumPath();
        var port = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Dms.dll"));
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(BaseAddress.ToString().TrimEnd('/'));
        info.Environment["Dms__DataDirectory"] = DataDirectory;
        info.Environment["Dms__Bootstrap__Tenant"] = Tenant;
        info.Environment["Dms__Bootstrap__AdminEmail"] = AdminEmail;
        info.Environment["Dms__Bootstrap__AdminPassword"] = AdminPassword;
        // The scenario signs in several times from one address; the limit itself is tested in Dms.Tests.
        info.Environment["Dms__Security__LoginRateLimit__PermitLimit"] = "1000";
        // The browser scenario registers a webhook on a loopback address (nothing needs to answer it).
        info.Environment["Dms__Webhooks__AllowPrivateTargets"] = "true";
        info.Environment["Dms__Platform__ApiKey"] = PlatformKey;
        info.Environment["Dms__Billing__WebhookSecret"] = BillingSecret;
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment.Remove("ConnectionStrings__Dms");
        _server = new Process { StartInfo = info };
        _server.OutputDataReceived += (_, e) => Append(e.Data);
        _server.ErrorDataReceived += (_, e) => Append(e.Data);
        _server.Start();
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        await WaitUntilReadyAsync();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }

    public async Task<IBrowserContext> NewContextAsync(int width = 1280, int height = 860) =>
        await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString(),
            AcceptDownloads = true,
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (_server is { HasExited: false })
        {
            // SIGTERM lets the app stop its embedded PostgreSQL cleanly.
            using (var kill = Process.Start("kill", ["-TERM", _server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _server.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _server.Kill(entireProcessTree: true);
            }
        }
        _server?.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover folder in /tmp harms nothing.
        }
    }

    /// <summary>Debian's chromium, never a downloaded browser. Missing: fail loudly with what to install.</summary>
    private static string ChromiumPath()
    {
        string[] candidates = [Environment.GetEnvironmentVariable("DMS_CHROMIUM") ?? "", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"];
        return candidates.FirstOrDefault(p => p.Length > 0 && File.Exists(p))
            ?? throw new InvalidOperationException(
                "Chromium not found for the browser tests: install it (Debian/Ubuntu: sudo apt-get install chromium) or set DMS_CHROMIUM to its path.");
    }

    private async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            if (_server!.HasExited)
            {
                throw new InvalidOperationException($"The server exited with {_server.ExitCode} before it was ready:\n{ServerOutput}");
            }
            try
            {
                using var response = await http.GetAsync(new Uri("/health/ready", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"The server was not ready within 120 s:\n{ServerOutput}");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
