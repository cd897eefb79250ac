using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Dms.Tests.Process;
using Shouldly;
using Xunit;

namespace Dms.Tests.Outbox;

/// <summary>
/// A worker running approvals four at a time (<c>Dms__Outbox__Concurrency=4</c>, each held half a second by the test-only
/// <c>OutboxHandlerDelay</c> so several are surely in flight) is killed (SIGKILL) at its tenth claimed execution. After a
/// restart every approval is executed exactly once: none of those in flight is lost, none runs twice (ADR 0040).
/// </summary>
public sealed partial class OutboxCrashTests : IDisposable
{
    private const int Requests = 24;
    private const string MemberPassword = "crash-member-password";
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-outbox-crash-{Guid.NewGuid():N}");

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Dms__Bootstrap__AdminPassword"] = "crash-admin-password",
        ["Dms__Outbox__LeaseDuration"] = "00:00:03",
        ["Dms__Outbox__PollInterval"] = "00:00:00.100",
        ["Dms__Outbox__Concurrency"] = "4",
        ["Dms__Security__UploadRateLimit__PermitLimit"] = "100000",
    };

    [Fact]
    public async Task A_node_killed_with_several_executions_in_flight_loses_none_and_repeats_none()
    {
        var documents = new List<Guid>();
        using (var api = DmsProcess.Start(_dataDirectory, Settings, "--role", "api"))
        {
            await api.WaitUntilReadyAsync();
            var admin = await Process.ApprovalCrashTests.SignInAsync(api, "admin@demo.local", "crash-admin-password");
            using (var created = await admin.PostAsJsonAsync("/api/v1/users", new { email = "member@demo.local", password = MemberPassword, role = "Member" }))
            {
                await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
            }
            // Nobody decides their own request: the member asks, the admin decides.
            var member = await Process.ApprovalCrashTests.SignInAsync(api, "member@demo.local", MemberPassword);
            var approvals = new List<Guid>();
            for (var i = 0; i < Requests; i++)
            {
                using var upload = await member.PostAsync("/api/v1/documents", Uploads.Form($"doc-{i}.txt", Uploads.Text($"original {i}")));
                await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
                var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
                documents.Add(documentId);
                using var request = await member.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = $"delete {i}" });
                await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
                approvals.Add((await request.JsonAsync()).GetProperty("id").GetGuid());
            }
            // Decided on the API-only node (nothing executes there), so the worker finds them all waiting.
            foreach (var approval in approvals)
            {
                using var response = await admin.PostAsJsonAsync($"/api/v1/approvals/{approval}/approve", new { comment = "ok" });
                await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            (await api.StopAsync()).ShouldBe(0);
        }

        var crashing = new Dictionary<string, string>(Settings)
        {
            ["Dms__Testing__KillAfterOutboxClaims"] = "10",
            ["Dms__Testing__KillOnOutboxType"] = "approval.execute",
            ["Dms__Testing__OutboxHandlerDelay"] = "00:00:00.500",
        };
        using (var worker = DmsProcess.Start(_dataDirectory, crashing, "--role", "worker"))
        {
            await worker.WaitForExitAsync(TimeSpan.FromSeconds(90));
            worker.ExitCode.ShouldBe(137, "killed by SIGKILL");
            for (var i = 0; i < 50 && !worker.Output.Contains("in flight on its lane", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
            }
            var died = InFlight().Match(worker.Output);
            died.Success.ShouldBeTrue(worker.Output);
            int.Parse(died.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture).ShouldBeGreaterThan(1, "killed with several executions in flight");
        }

        using var second = DmsProcess.Start(_dataDirectory, Settings);
        await second.WaitUntilReadyAsync();
        var admin2 = await Process.ApprovalCrashTests.SignInAsync(second, "admin@demo.local", "crash-admin-password");
        var member2 = await Process.ApprovalCrashTests.SignInAsync(second, "member@demo.local", MemberPassword);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        int executed;
        while ((executed = await Process.ApprovalCrashTests.CountApprovalsAsync(admin2, "Executed")) < Requests && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
        }
        executed.ShouldBe(Requests, "none of the executions in flight at the kill is lost");
        (await Process.ApprovalCrashTests.CountApprovalsAsync(admin2, "Failed")).ShouldBe(0, "an execution run twice finds its document already deleted");
        var trash = await (await admin2.GetAsync("/api/v1/trash?limit=200")).JsonAsync();
        trash.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()).Order().ShouldBe(documents.Order());
        // Each execution writes its "executed" notification in its own transaction: a second run would write a second.
        var notifications = 0;
        for (var i = 0; i < 100 && (notifications = await CountNotificationsAsync(member2, "approval.executed")) < Requests; i++)
        {
            await Task.Delay(200);
        }
        notifications.ShouldBe(Requests);
        await Task.Delay(1000);
        (await CountNotificationsAsync(member2, "approval.executed")).ShouldBe(Requests, "no execution ran twice");
        (await second.StopAsync()).ShouldBe(0);
    }

    public void Dispose() => ServerDataDirectory.Remove(_dataDirectory);

    [GeneratedRegex(@"\((\d+) in flight on its lane\)")]
    private static partial Regex InFlight();

    private static async Task<int> CountNotificationsAsync(HttpClient client, string kind)
    {
        var count = 0;
        string? cursor = null;
        do
        {
            var page = await (await client.GetAsync($"/api/v1/notifications?limit=200{(cursor is null ? "" : $"&cursor={cursor}")}")).JsonAsync();
            count += page.GetProperty("items").EnumerateArray().Count(n => n.GetProperty("kind").GetString() == kind);
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);
        return count;
    }
}
