using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Dms.Tests.Process;
using Shouldly;
using Xunit;

namespace Dms.Tests.Audit;

/// <summary>
/// A crash while chaining (ADR 0038): the server is killed (SIGKILL by fault injection) with a batch of audit events sealed
/// in its open chaining transaction. Nothing of that batch is kept; the events stay recorded, pending. The next server
/// chains them in its first sweep, before anything new is recorded (no notification explains it), exactly once.
/// </summary>
public sealed class AuditChainCrashTests : IDisposable
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-audit-crash-{Guid.NewGuid():N}");

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Dms__Bootstrap__AdminPassword"] = "crash-admin-password",
        ["Dms__Audit__ChainInterval"] = "00:00:00.200",
    };

    [Fact]
    public async Task Events_left_pending_by_a_node_killed_while_chaining_are_chained_once_by_the_next_one()
    {
        // The first start records the bootstrap's events (tenant, admin); chaining them kills the process.
        var crashing = new Dictionary<string, string>(Settings) { ["Dms__Testing__KillWhileChainingAudit"] = "true" };
        using (var first = DmsProcess.Start(_dataDirectory, crashing))
        {
            await first.WaitForExitAsync(TimeSpan.FromSeconds(90));
            first.ExitCode.ShouldBe(137, "killed by SIGKILL");
            for (var i = 0; i < 50 && !first.Output.Contains("fault injection: killing the process after sealing", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
            }
            first.Output.ShouldContain("fault injection: killing the process after sealing");
        }

        using var second = DmsProcess.Start(_dataDirectory, Settings);
        await second.WaitUntilReadyAsync();
        // Before any request that records something: only the sweep can chain what the first process left.
        using var anonymous = new HttpClient { BaseAddress = second.BaseAddress };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        double chained = 0;
        while ((chained = await ChainedByNodeAsync(anonymous)) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        chained.ShouldBeGreaterThan(0, "the new node's sweep chained the events the killed one left");

        var admin = await SignInAsync(second);
        var verify = await AuditChainWait.ChainedAsync(admin, TimeSpan.FromSeconds(60));
        verify.GetProperty("valid").GetBoolean().ShouldBeTrue();
        using var export = await admin.GetAsync("/api/v1/audit/export?format=ndjson");
        await export.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var seqs = (await export.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("seq").GetInt64()).ToList();
        seqs.ShouldBe(Enumerable.Range(1, seqs.Count).Select(i => (long)i), "chained once each, without a gap");
        verify.GetProperty("checked").GetInt64().ShouldBe(seqs.Count);
        (await second.StopAsync()).ShouldBe(0);
    }

    /// <summary>This node's <c>dms_audit_chained_total</c> (0 until it chained something); /metrics answers loopback callers.</summary>
    private static async Task<double> ChainedByNodeAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("/metrics");
        // "name{labels} value [timestamp]"
        return text.Split('\n').Where(l => l.StartsWith("dms_audit_chained_total", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.IndexOf("} ", StringComparison.Ordinal) + 2)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task<HttpClient> SignInAsync(DmsProcess server)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email = "admin@demo.local", password = "crash-admin-password" });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString());
        return http;
    }

    public void Dispose() => ServerDataDirectory.Remove(_dataDirectory);
}
