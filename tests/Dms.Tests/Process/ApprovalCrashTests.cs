using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Process;

/// <summary>
/// 100 requests are approved on an API-only node (<c>--role api</c>: nothing executes there). A worker-only node
/// (<c>--role worker</c>) then starts executing them and is killed (SIGKILL) after claiming the 30th execution,
/// with a message leased and its side effect not done. After a restart every request reaches Executed exactly
/// once: versions, trash and notifications counted.
/// </summary>
public sealed class ApprovalCrashTests : IDisposable
{
    private const int Requests = 100;
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-crash-{Guid.NewGuid():N}");

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Dms__Bootstrap__AdminPassword"] = "crash-admin-password",
        ["Dms__Outbox__LeaseDuration"] = "00:00:03",
        ["Dms__Outbox__PollInterval"] = "00:00:00.100",
        // 150 uploads in seconds is the test's pace, not a person's.
        ["Dms__Security__UploadRateLimit__PermitLimit"] = "100000",
    };

    [Fact]
    public async Task Every_approved_request_is_executed_exactly_once_across_a_sigkill()
    {
        List<(Guid Approval, Guid Document, string Type)> requests = [];
        string memberPassword = "crash-member-password";
        using (var api = DmsProcess.Start(_dataDirectory, Settings, "--role", "api"))
        {
            await api.WaitUntilReadyAsync();
            var admin = await SignInAsync(api, "admin@demo.local", "crash-admin-password");
            using (var created = await admin.PostAsJsonAsync("/api/v1/users", new { email = "member@demo.local", password = memberPassword, role = "Member" }))
            {
                await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
            }
            var member = await SignInAsync(api, "member@demo.local", memberPassword);
            for (var i = 0; i < Requests; i++)
            {
                using var upload = await member.PostAsync("/api/v1/documents", Uploads.Form($"doc-{i}.txt", Uploads.Text($"original {i}")));
                await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
                var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
                HttpResponseMessage request;
                if (i % 2 == 0)
                {
                    request = await member.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = $"delete {i}" });
                }
                else
                {
                    request = await member.PostAsync($"/api/v1/documents/{documentId}/replace-requests", new MultipartFormDataContent
                    {
                        { new ByteArrayContent(Uploads.Text($"replacement {i}")), "file", $"doc-{i}.txt" },
                        { new StringContent($"replace {i}"), "reason" },
                    });
                }
                await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
                requests.Add(((await request.JsonAsync()).GetProperty("id").GetGuid(), documentId, i % 2 == 0 ? "Delete" : "Replace"));
                request.Dispose();
            }
            foreach (var (approval, _, _) in requests)
            {
                using var response = await admin.PostAsJsonAsync($"/api/v1/approvals/{approval}/approve", new { comment = "ok" });
                await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            // An API-only node runs no worker: everything waits, approved, for one.
            await Task.Delay(1000);
            (await CountApprovalsAsync(admin, "Approved")).ShouldBe(Requests);
            (await CountApprovalsAsync(admin, "Executed")).ShouldBe(0);
            (await api.StopAsync()).ShouldBe(0);
        }

        var crashing = new Dictionary<string, string>(Settings) { ["Dms__Testing__KillAfterOutboxClaims"] = "30", ["Dms__Testing__KillOnOutboxType"] = "approval.execute" };
        using (var worker = DmsProcess.Start(_dataDirectory, crashing, "--role", "worker"))
        {
            await worker.WaitForExitAsync(TimeSpan.FromSeconds(90));
            worker.ExitCode.ShouldBe(137, "killed by SIGKILL");
            await WaitForOutputAsync(worker, "fault injection: killing the process");
        }

        using var second = DmsProcess.Start(_dataDirectory, Settings);
        await second.WaitUntilReadyAsync();
        var admin2 = await SignInAsync(second, "admin@demo.local", "crash-admin-password");
        var deadline = DateTime.UtcNow.AddSeconds(120);
        int executed;
        while ((executed = await CountApprovalsAsync(admin2, "Executed")) < Requests && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
        }
        executed.ShouldBe(Requests);
        (await CountApprovalsAsync(admin2, "Failed")).ShouldBe(0);

        var member2 = await SignInAsync(second, "member@demo.local", memberPassword);
        var trash = await (await admin2.GetAsync("/api/v1/trash?limit=200")).JsonAsync();
        trash.GetProperty("items").GetArrayLength().ShouldBe(Requests / 2);
        foreach (var (_, document, _) in requests.Where(r => r.Type == "Replace"))
        {
            var versions = await (await member2.GetAsync($"/api/v1/documents/{document}/versions")).JsonAsync();
            versions.GetProperty("items").GetArrayLength().ShouldBe(2, $"document {document} must have exactly one new version");
        }
        // Notifications are outbox messages of their own, delivered just after the execution they announce.
        var notifications = await AllNotificationsAsync(member2);
        for (var i = 0; i < 100 && notifications.Count(n => n.GetProperty("kind").GetString() == "approval.executed") < Requests; i++)
        {
            await Task.Delay(200);
            notifications = await AllNotificationsAsync(member2);
        }
        notifications.Count(n => n.GetProperty("kind").GetString() == "approval.executed").ShouldBe(Requests);
        notifications.Count(n => n.GetProperty("kind").GetString() == "approval.approved").ShouldBe(Requests);
        (await second.StopAsync()).ShouldBe(0);
    }

    public void Dispose() => ServerDataDirectory.Remove(_dataDirectory);

    /// <summary>The child's output pipes drain a moment after it exits.</summary>
    private static async Task WaitForOutputAsync(DmsProcess process, string text)
    {
        for (var i = 0; i < 50 && !process.Output.Contains(text, StringComparison.Ordinal); i++)
        {
            await Task.Delay(100);
        }
        process.Output.ShouldContain(text);
    }

    /// <summary>Signs in to a separately started app (also used by the outbox crash tests).</summary>
    internal static async Task<HttpClient> SignInAsync(DmsProcess server, string email, string password)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email, password });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString());
        return http;
    }

    internal static async Task<int> CountApprovalsAsync(HttpClient admin, string status)
    {
        var page = await (await admin.GetAsync($"/api/v1/approvals?status={status}&limit=200")).JsonAsync();
        return page.GetProperty("items").GetArrayLength();
    }

    private static async Task<List<JsonElement>> AllNotificationsAsync(HttpClient client)
    {
        var all = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await (await client.GetAsync($"/api/v1/notifications?limit=200{(cursor is null ? "" : $"&cursor={cursor}")}")).JsonAsync();
            all.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);
        return all;
    }
}
