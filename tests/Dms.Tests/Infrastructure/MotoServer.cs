using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Dms.Tests.Infrastructure;

/// <summary>
/// A real S3-compatible server for the run: moto's <c>moto_server</c> on a free loopback port, started
/// once and killed when the test process exits. Missing moto fails loudly with what to install.
/// </summary>
internal static class MotoServer
{
    private static readonly Lazy<Task<Uri>> Server = new(StartAsync);

    public static Task<Uri> GetAsync() => Server.Value;

    private static async Task<Uri> StartAsync()
    {
        var port = FreePort();
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(new ProcessStartInfo("moto_server", ["-H", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("moto_server not found on PATH: install it with `pip install 'moto[server]'` (the S3 tests need a real S3-compatible server).", ex);
        }
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        };

        var url = new Uri($"http://127.0.0.1:{port}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var attempt = 0; attempt < 150; attempt++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"moto_server exited with {process.ExitCode} at start-up.");
            }
            try
            {
                using var response = await http.GetAsync(url);
                return url;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(200);
        }
        throw new TimeoutException("moto_server did not answer within 30 s.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
