using System.Diagnostics;
using System.Globalization;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Dms.Tests.Process;

/// <summary>
/// One local cluster (<c>deploy/local/cluster.sh up --workers 2</c>) shared by every test class in the
/// <see cref="Collection"/> collection: the approval suite through its load balancer and the worker takeover test.
/// Starting it costs seconds (initdb, migrations, four nodes), so it starts once; the classes in the collection run one
/// after another and each makes a tenant of its own.
/// <para>
/// worker1 is armed for the takeover test (it kills itself on claiming its first <c>approval.execute</c>) and kept
/// paused (SIGSTOP) until that test resumes it, so until then worker2 does all the background work. The outbox lease
/// is short (<see cref="Lease"/>) so a dead worker's message is taken over within seconds.
/// </para>
/// </summary>
public sealed class LocalClusterFixture(IMessageSink diagnostics) : IAsyncLifetime
{
    public const string Collection = "Local cluster";
    internal static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);

    private readonly string _state = Path.Combine(Path.GetTempPath(), $"dms-cluster-suite-{Guid.NewGuid():N}"[..42]);

    internal Uri Lb { get; private set; } = null!;
    internal Uri S3 { get; private set; } = null!;
    internal string PlatformKey { get; private set; } = "";
    internal string OwnerConnectionString { get; private set; } = "";
    internal IReadOnlyList<int> ApiPids { get; private set; } = [];

    /// <summary>worker1 (armed, paused until the takeover test), worker2.</summary>
    internal IReadOnlyList<int> WorkerPids { get; private set; } = [];

    internal string LogPath(string name) => Path.Combine(_state, "logs", name);

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        var (exit, output) = await LocalClusterScript.RunAsync(_state, ["up", "--workers", "2",
            "--node-env", "worker1:Dms__Testing__KillAfterOutboxClaims=1", "--node-env", "worker1:Dms__Testing__KillOnOutboxType=approval.execute"],
            new Dictionary<string, string>
            {
                ["Dms__Outbox__LeaseDuration"] = $"00:00:{Lease.TotalSeconds:00}",
                ["Dms__Outbox__PollInterval"] = "00:00:00.100",
                ["Dms__Outbox__BaseBackoff"] = "00:00:00.100",
                ["Dms__Outbox__MaxBackoff"] = "00:00:01",
                // The 500-parallel-request tests send ~250 requests at once to each node, four times its pool, and every new
                // connection pays a scram-sha-256 handshake (2-3 s each with two clusters on a loaded machine): with the 5 s
                // default, requests waiting for the pool are shed as 503 database.unavailable. Those tests are about who wins,
                // not about capacity, so requests queue here instead.
                ["Dms__Database__ConnectTimeout"] = "00:00:30",
                // The suite signs in and uploads far more often than any person (and all from 127.0.0.1).
                ["Dms__Security__LoginRateLimit__PermitLimit"] = "1000000",
                ["Dms__Security__UploadRateLimit__PermitLimit"] = "1000000",
            }, TimeSpan.FromMinutes(4));
        exit.ShouldBe(0, output);
        var up = LocalClusterScript.Lines(output);
        Lb = new Uri(up["LB"]);
        S3 = new Uri(up["S3"]);
        PlatformKey = up["PLATFORM_KEY"];
        ApiPids = up["API_PIDS"].Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        WorkerPids = up["WORKER_PIDS"].Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();
        WorkerPids.Count.ShouldBe(2, output);
        var env = LocalClusterScript.ReadEnvFile(up["ENV_FILE"]);
        OwnerConnectionString = env["ConnectionStrings__DmsOwner"] + ";Pooling=false";
        await LocalClusterScript.SignalAsync("STOP", WorkerPids[0]);
        diagnostics.OnMessage(new DiagnosticMessage($"local cluster for the approval suite: up in {clock.Elapsed.TotalSeconds:F1} s at {Lb}; worker1 (pid {WorkerPids[0]}) paused, worker2 (pid {WorkerPids[1]}) works"));
    }

    public async Task DisposeAsync()
    {
        // down resumes a paused worker before it stops it.
        await LocalClusterScript.RunAsync(_state, ["down"], new Dictionary<string, string>(), TimeSpan.FromMinutes(2));
        LocalClusterScript.DeleteState(_state);
    }
}

[CollectionDefinition(LocalClusterFixture.Collection)]
public sealed class LocalClusterGroup : ICollectionFixture<LocalClusterFixture>;

/// <summary>Runs <c>deploy/local/cluster.sh</c> and reads what it prints and leaves behind.</summary>
internal static class LocalClusterScript
{
    public static string Script => Path.Combine(RepositoryRoot(), "deploy", "local", "cluster.sh");

    /// <summary>Runs the script on state directory <paramref name="state"/> with the app this test run built.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string state, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment,
        TimeSpan timeout)
    {
        var info = new ProcessStartInfo("bash", [Script, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["DMS_CLUSTER_DIR"] = state;
        info.Environment["DMS_APP_DLL"] = DmsProcess.DllPath;
        // The script sets the cluster's own connection strings: one meant for the test run must not reach its nodes.
        info.Environment.Remove("ConnectionStrings__Dms");
        info.Environment.Remove("ConnectionStrings__DmsOwner");
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The KEY=VALUE lines the script prints.</summary>
    public static Dictionary<string, string> Lines(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && char.IsUpper(l[0]) && l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2)).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last()[1]);

    public static Dictionary<string, string> ReadEnvFile(string path) =>
        File.ReadLines(path).Where(l => !l.StartsWith('#') && l.Contains('=', StringComparison.Ordinal)).Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1].Trim('\''));

    public static async Task SignalAsync(string signal, int pid)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        kill.ExitCode.ShouldBe(0, $"kill -{signal} {pid}");
    }

    /// <summary>The nodes are not this process's children (the script started them): watch /proc.</summary>
    public static async Task WaitForExitAsync(int pid, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (Alive(pid) && clock.Elapsed < timeout)
        {
            await Task.Delay(20);
        }
        Alive(pid).ShouldBeFalse($"pid {pid} still runs after {timeout.TotalSeconds} s");
    }

    /// <summary>Alive and not a zombie.</summary>
    public static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static List<int> Children(int parent) =>
        Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(n => int.Parse(n!, CultureInfo.InvariantCulture))
            .Where(pid =>
            {
                try
                {
                    var stat = File.ReadAllText($"/proc/{pid}/stat");
                    return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture) == parent;
                }
                catch (IOException)
                {
                    return false;
                }
            }).ToList();

    /// <summary>Removes a state directory (DMS_KEEP_CLUSTER_STATE=1 keeps it, logs included, for a look after a failure).</summary>
    public static void DeleteState(string state)
    {
        try
        {
            if (Environment.GetEnvironmentVariable("DMS_KEEP_CLUSTER_STATE") != "1")
            {
                Directory.Delete(state, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dms.slnx")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("Dms.slnx not found above " + AppContext.BaseDirectory);
    }
}
