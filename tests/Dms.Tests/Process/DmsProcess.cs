using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Dms.Tests.Process;

/// <summary>The real server as a separate OS process (<c>dotnet Dms.dll</c>), to be stopped, killed and restarted.</summary>
internal sealed class DmsProcess : IDisposable
{
    private readonly System.Diagnostics.Process _process;
    private readonly StringBuilder _output = new();

    private DmsProcess(System.Diagnostics.Process process, int port)
    {
        _process = process;
        Port = port;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }
    public Uri BaseAddress { get; }
    public int Pid => _process.Id;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "Dms.dll");

    public static DmsProcess Start(string dataDirectory, IDictionary<string, string>? environment = null, params string[] extraArgs)
    {
        var port = FreePort();
        var info = Info(dataDirectory, environment, ["--urls", $"http://127.0.0.1:{port}", .. extraArgs]);
        var process = new System.Diagnostics.Process { StartInfo = info };
        var dms = new DmsProcess(process, port);
        process.OutputDataReceived += (_, e) => dms.Append(e.Data);
        process.ErrorDataReceived += (_, e) => dms.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return dms;
    }

    /// <summary>Runs a CLI verb to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunCliAsync(string dataDirectory, IDictionary<string, string>? environment, params string[] args)
    {
        using var process = System.Diagnostics.Process.Start(Info(dataDirectory, environment, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with {_process.ExitCode} before it was ready:\n{Output}");
            }
            try
            {
                using var response = await http.GetAsync("/health/ready");
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
        throw new TimeoutException($"The server was not ready within 90 s:\n{Output}");
    }

    /// <summary>SIGTERM, as systemd, Kubernetes or Ctrl+C would stop it; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>Waits for a process that is expected to end by itself (for example killed by fault injection).</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }
        _process.Dispose();
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

    private static ProcessStartInfo Info(string dataDirectory, IDictionary<string, string>? environment, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["Dms__DataDirectory"] = dataDirectory;
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment.Remove("ConnectionStrings__Dms");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        return info;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
