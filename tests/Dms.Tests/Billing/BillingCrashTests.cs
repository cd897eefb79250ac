using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Dms.Tests.Process;
using Shouldly;
using Xunit;

namespace Dms.Tests.Billing;

/// <summary>
/// A crash between storing a billing event and applying it (issue 17): the server is killed (SIGKILL by fault injection)
/// right after the "payment failed" event and its outbox message are committed; after a restart the outbox applies it:
/// the subscription is past due, with exactly one audited transition, and a redelivery by the provider changes nothing.
/// </summary>
public sealed class BillingCrashTests : IDisposable
{
    private const string PlatformKey = "crash-platform-key-0123456789";
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-billing-crash-{Guid.NewGuid():N}");

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Dms__Bootstrap__AdminPassword"] = "crash-admin-password",
        ["Dms__Platform__ApiKey"] = PlatformKey,
        ["Dms__Billing__WebhookSecret"] = BillingSupport.Secret,
        ["Dms__Outbox__PollInterval"] = "00:00:00.100",
    };

    [Fact]
    public async Task An_event_stored_but_not_applied_when_the_process_dies_is_applied_once_after_a_restart()
    {
        var body = BillingSupport.Body($"evt_{Guid.NewGuid():N}", "payment.failed", DateTimeOffset.UtcNow, "demo");
        var crashing = new Dictionary<string, string>(Settings) { ["Dms__Testing__KillAfterBillingEventStored"] = "true" };
        using (var first = DmsProcess.Start(_dataDirectory, crashing))
        {
            await first.WaitUntilReadyAsync();
            using var platform = new HttpClient { BaseAddress = first.BaseAddress };
            platform.DefaultRequestHeaders.Add("X-Platform-Key", PlatformKey);
            using var plan = await platform.PostAsJsonAsync("/api/v1/platform/plans", new { name = "crash plan", seats = 10 });
            await plan.ShouldHaveStatusAsync(HttpStatusCode.Created);
            var planId = (await plan.JsonAsync()).GetProperty("id").GetGuid();
            using (var assigned = await platform.PutAsJsonAsync("/api/v1/platform/tenants/demo/plan", new { planId }))
            {
                await assigned.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            await Should.ThrowAsync<HttpRequestException>(() => SendAsync(first, body));
            await first.WaitForExitAsync(TimeSpan.FromSeconds(60));
            first.ExitCode.ShouldBe(137, "killed by SIGKILL");
            for (var i = 0; i < 50 && !first.Output.Contains("fault injection: killing the process after storing billing event", StringComparison.Ordinal); i++)
            {
                await Task.Delay(100);
            }
            first.Output.ShouldContain("fault injection: killing the process after storing billing event");
        }

        using var second = DmsProcess.Start(_dataDirectory, Settings);
        await second.WaitUntilReadyAsync();
        var admin = await SignInAsync(second);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string? status;
        while ((status = await StatusAsync(admin)) != "past_due" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        status.ShouldBe("past_due", "the outbox applied the stored event after the restart");
        (await AuditCountAsync(admin)).ShouldBe(1);

        // The provider, having seen no answer, delivers again: 200, a duplicate, no second change.
        using (var again = await SendAsync(second, body))
        {
            await again.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var answer = await again.JsonAsync();
            answer.GetProperty("duplicate").GetBoolean().ShouldBeTrue();
            answer.GetProperty("outcome").GetString().ShouldBe("applied");
        }
        (await AuditCountAsync(admin)).ShouldBe(1);
        (await second.StopAsync()).ShouldBe(0);
    }

    private static async Task<HttpResponseMessage> SendAsync(DmsProcess server, string body)
    {
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/billing/webhook") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Billing-Signature", BillingSupport.Header(body));
        return await http.SendAsync(request);
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

    private static async Task<string?> StatusAsync(HttpClient admin)
    {
        var usage = await (await admin.GetAsync("/api/v1/tenant/usage")).JsonAsync();
        return usage.GetProperty("subscription").GetProperty("status").GetString();
    }

    /// <summary>The audit trail through its API: transitions of the subscription.</summary>
    private static async Task<int> AuditCountAsync(HttpClient admin)
    {
        using var response = await admin.GetAsync("/api/v1/audit?action=subscription.changed&limit=100");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync()).GetProperty("items").GetArrayLength();
    }

    public void Dispose() => Process.ServerDataDirectory.Remove(_dataDirectory);
}
