using System.Globalization;
using Shouldly;
using Xunit;

namespace Dms.Tests.Process;

/// <summary>
/// The app and its embedded PostgreSQL die together (power cut, OOM killer, <c>kill -9</c>) and the app is started
/// again at once, while the killed postmaster may still be tearing down: start-up must wait for a server that
/// answers, never trust its pid file, and end any failure with one clear line.
/// </summary>
public sealed class DatabaseCrashTests : IDisposable
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-dbcrash-{Guid.NewGuid():N}");

    private static readonly Dictionary<string, string> Settings = new() { ["Dms__Bootstrap__AdminPassword"] = "dbcrash-admin-password" };

    [Fact]
    public async Task The_app_starts_at_once_after_it_and_its_postgresql_were_killed_together()
    {
        using (var first = DmsProcess.Start(_dataDirectory, Settings))
        {
            await first.WaitUntilReadyAsync();
            await first.KillAsync();
        }
        // Several rounds: the restart races the teardown of the killed postmaster differently each time.
        for (var round = 0; round < 3; round++)
        {
            KillPostmaster(_dataDirectory);
            using var next = DmsProcess.Start(_dataDirectory, Settings);
            await next.WaitUntilReadyAsync();
            await next.KillAsync();
        }
    }

    [Fact]
    public async Task An_unreachable_database_fails_start_up_with_one_clear_line()
    {
        var (exit, output) = await DmsProcess.RunCliAsync(_dataDirectory, new Dictionary<string, string>
        {
            ["ConnectionStrings__Dms"] = "Host=127.0.0.1;Port=1;Username=dms_app;Password=secret-never-printed;Database=dms;Timeout=2",
            ["Dms__Database__StartupTimeout"] = "00:00:02",
        }, "--urls", "http://127.0.0.1:1");
        exit.ShouldBe(1, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('{')).ToList();
        lines.ShouldHaveSingleItem().ShouldStartWith("dms: ");
        lines[0].ShouldContain("127.0.0.1:1");
        output.ShouldNotContain("   at ");
        output.ShouldNotContain("secret-never-printed");
    }

    /// <summary>SIGKILLs the embedded postmaster named in its pid file, without waiting for it to vanish.</summary>
    internal static void KillPostmaster(string dataDirectory)
    {
        var pidFile = Path.Combine(dataDirectory, "postgres", "pgdata", "postmaster.pid");
        var pid = int.Parse(File.ReadLines(pidFile).First(), CultureInfo.InvariantCulture);
        using var kill = System.Diagnostics.Process.Start("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void Dispose() => Cleanup(_dataDirectory);

    internal static void Cleanup(string dataDirectory)
    {
        var pid = Path.Combine(dataDirectory, "postgres", "pgdata", "postmaster.pid");
        if (File.Exists(pid) && int.TryParse(File.ReadLines(pid).FirstOrDefault(), out var postmaster))
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(postmaster).Kill();
            }
            catch (ArgumentException)
            {
            }
        }
        for (var i = 0; i < 20; i++)
        {
            try
            {
                Directory.Delete(dataDirectory, recursive: true);
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
            catch (UnauthorizedAccessException)
            {
                Thread.Sleep(100);
            }
        }
    }
}
