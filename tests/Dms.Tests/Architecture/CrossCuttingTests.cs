using System.Text.RegularExpressions;
using Shouldly;
using Xunit;

namespace Dms.Tests.Architecture;

/// <summary>One way for cross-cutting things (issue 11): time from the injected clock, the tenant setting only in Db, faults only behind the test hook.</summary>
public sealed partial class CrossCuttingTests
{
    [GeneratedRegex(@"\bDateTime(?:Offset)?\.(?:UtcNow|Now)\b")]
    private static partial Regex SystemClock();

    [GeneratedRegex(@"set_config\(\s*'app\.tenant_id'")]
    private static partial Regex TenantSetting();

    [GeneratedRegex(@"\.Kill\(|Environment\.FailFast\(")]
    private static partial Regex SelfKill();

    /// <summary>Lines of code (comments dropped) in src/Dms/**/*.cs matching <paramref name="pattern"/>, except in <paramref name="allowedFile"/>.</summary>
    internal static List<string> Offences(Regex pattern, string? allowedFile = null) =>
        [.. DmsCode.SourceFiles(".cs")
            .Where(f => allowedFile is null || !f.EndsWith(allowedFile, StringComparison.Ordinal))
            .SelectMany(f => File.ReadAllLines(Path.Combine(DmsCode.RepoRoot, f)).Select((line, i) => (File: f, Line: i + 1, Code: line.Split("//")[0])))
            .Where(l => pattern.IsMatch(l.Code))
            .Select(l => $"{l.File}:{l.Line} {l.Code.Trim()}")];

    [Fact]
    public void Time_comes_from_the_injected_clock() =>
        Offences(SystemClock()).ShouldBeEmpty("use the injected TimeProvider");

    [Fact]
    public void Only_Db_sets_the_tenant() =>
        Offences(TenantSetting(), "Platform/Database/Db.cs").ShouldBeEmpty("call Db.InTenantAsync or Db.EnterTenantAsync");

    [Fact]
    public void Only_the_test_hook_kills_the_process() =>
        Offences(SelfKill(), "Platform/Testing/FaultInjection.cs").Where(o => !o.StartsWith(ChildProcesses, StringComparison.Ordinal))
            .ShouldBeEmpty("faults live behind Platform/Testing/FaultInjection.cs");

    // The one other kill: external tools (extraction, previews) that overrun their limits, never this process.
    private const string ChildProcesses = "src/Dms/Platform/Processes/ChildProcess.cs:";

    [Fact]
    public void The_scans_see_a_violation()
    {
        SystemClock().IsMatch("var now = DateTime.UtcNow;").ShouldBeTrue();
        SystemClock().IsMatch("clock.GetUtcNow()").ShouldBeFalse();
        TenantSetting().IsMatch("SELECT set_config('app.tenant_id', @t, true)").ShouldBeTrue();
        SelfKill().IsMatch("Process.GetCurrentProcess().Kill();").ShouldBeTrue();
        // The real tree has exactly one tenant setting and one self-kill, where they belong: the scans find them there.
        Offences(TenantSetting()).Count.ShouldBe(1);
        Offences(SelfKill()).Count(o => !o.StartsWith(ChildProcesses, StringComparison.Ordinal)).ShouldBe(1);
        Offences(SelfKill()).Count(o => o.StartsWith(ChildProcesses, StringComparison.Ordinal)).ShouldBe(1);
    }
}
