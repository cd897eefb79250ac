using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;
using static Dms.Tests.Notifications.MailSupport;

namespace Dms.Tests.Notifications;

/// <summary>
/// "The notification service is down" (seed 004): the SMTP server is stopped while approvals run. Approvals neither slow
/// down nor fail (mail has an outbox lane of its own), the mails queue and are retried with backoff, and once the server
/// is back each arrives exactly once, counted by Message-ID. On an app and SMTP server of its own.
/// </summary>
public sealed class MailOutageTests
{
    [Fact]
    public async Task With_the_mail_server_down_approvals_run_as_usual_and_every_mail_arrives_once_when_it_returns()
    {
        await using var smtp = new SmtpTestServer();
        smtp.Start();
        var logs = new CapturedLogs();
        await using var app = await StartAppAsync($"mailout_{Guid.NewGuid():N}"[..16], smtp,
            new Dictionary<string, string> { ["Dms:Outbox:Mail:MaxAttempts"] = "1000" },
            services => services.AddSingleton<ILoggerProvider>(logs));
        var tenant = await app.CreateTenantAsync();
        var approver = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");
        const int requests = 8;
        var documents = new List<Guid>();
        for (var i = 0; i < requests; i++)
        {
            documents.Add(await UploadAsync(member, $"Outage {i}"));
        }

        await smtp.StopAsync();
        var slowest = TimeSpan.Zero;
        var approvals = new List<Guid>();
        foreach (var document in documents)
        {
            var started = Stopwatch.GetTimestamp();
            var approvalId = await RequestDeleteAsync(member, document);
            using (var approved = await approver.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" }))
            {
                await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            var elapsed = Stopwatch.GetElapsedTime(started);
            slowest = elapsed > slowest ? elapsed : slowest;
            approvals.Add(approvalId);
        }
        // Carried out while the mail server is still down: nothing waits for mail.
        foreach (var approvalId in approvals)
        {
            await WaitForStatusAsync(tenant.Admin, approvalId, "Executed");
        }
        // Generous for a loaded machine, far below an SMTP timeout (10 s here) that a request waiting on mail would pay.
        slowest.ShouldBeLessThan(TimeSpan.FromSeconds(8));

        // The mails queued and were retried: each (notification, recipient) once, nothing sent, attempts made.
        await WaitUntilAsync(async () => await OwnerScalarAsync<long>(app, tenant.Id,
            "SELECT count(*) FROM outbox_messages WHERE tenant_id = @t AND type NOT LIKE 'mail.%' AND status IN ('Pending', 'Processing')") == 0);
        var expected = await OwnerScalarAsync<long>(app, tenant.Id, "SELECT count(*) FROM mail_deliveries WHERE tenant_id = @t");
        expected.ShouldBe(requests * 4); // requested → two admins; approved and executed → the requester
        await WaitUntilAsync(async () => await OwnerScalarAsync<long>(app, tenant.Id,
            "SELECT count(*) FROM outbox_messages WHERE tenant_id = @t AND type = 'mail.send' AND attempts >= 2 AND status = 'Pending'") > 0);
        (await OwnerScalarAsync<long>(app, tenant.Id, "SELECT count(*) FROM mail_deliveries WHERE tenant_id = @t AND sent_at IS NOT NULL")).ShouldBe(0);
        smtp.Received.ShouldBeEmpty();

        smtp.Start();
        await WaitUntilAsync(async () => await OwnerScalarAsync<long>(app, tenant.Id,
            "SELECT count(*) FROM mail_deliveries WHERE tenant_id = @t AND sent_at IS NOT NULL") == expected,
            async () => $"received {smtp.Received.Count}; deliveries: " + await OwnerScalarAsync<string>(app, tenant.Id,
                "SELECT string_agg(kind || ' sent=' || (sent_at IS NOT NULL) || ' skipped=' || coalesce(skipped_reason, '-'), '; ') FROM mail_deliveries WHERE tenant_id = @t")
                + "; outbox: " + await OwnerScalarAsync<string>(app, tenant.Id,
                "SELECT string_agg(type || ' ' || status || ' ' || attempts || ' ' || coalesce(last_error, '-'), '; ') FROM outbox_messages WHERE tenant_id = @t AND type LIKE 'mail%'"));
        await WaitForQuietOutboxAsync(app, tenant.Id);
        var ids = smtp.Received.Select(m => m.MessageId).ToList();
        ids.Count.ShouldBe((int)expected);
        ids.Distinct().Count().ShouldBe(ids.Count, "each mail exactly once");
        (await OwnerScalarAsync<long>(app, tenant.Id, "SELECT count(*) FROM outbox_messages WHERE tenant_id = @t AND status = 'Dead'")).ShouldBe(0);

        // The failures were logged (with MailKit's exceptions), the SMTP password never.
        logs.Lines.ShouldContain(l => l.Contains("mail.send", StringComparison.Ordinal));
        logs.Lines.ShouldNotContain(l => l.Contains(smtp.Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_mail_server_that_accepts_but_never_answers_holds_up_only_mail()
    {
        // A listener that takes connections (the kernel completes them) and never says a word: each SMTP attempt waits
        // out Dms__Mail__Timeout. Anything queued behind mail on the same dispatcher would wait as long.
        await using var smtp = new SmtpTestServer();
        using var silent = new System.Net.Sockets.TcpListener(IPAddress.Loopback, smtp.Port);
        silent.Start();
        await using var app = await StartAppAsync($"mailhang_{Guid.NewGuid():N}"[..16], smtp, new Dictionary<string, string>
        {
            ["Dms:Mail:Timeout"] = "00:00:20",
            ["Dms:Outbox:Mail:MaxAttempts"] = "1000",
        });
        var tenant = await app.CreateTenantAsync();
        var approver = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");
        for (var i = 0; i < 3; i++)
        {
            var approvalId = await RequestDeleteAsync(member, await UploadAsync(member, $"Hang {i}"));
            await WaitUntilAsync(async () => await OwnerScalarAsync<long>(app, tenant.Id,
                "SELECT count(*) FROM outbox_messages WHERE tenant_id = @t AND type = 'mail.send' AND status = 'Processing'") > 0);
            var started = Stopwatch.GetTimestamp();
            using (var approved = await approver.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" }))
            {
                await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            await WaitForStatusAsync(tenant.Admin, approvalId, "Executed");
            // Well under one SMTP timeout (20 s): the execution did not wait behind a hanging mail.
            Stopwatch.GetElapsedTime(started).ShouldBeLessThan(TimeSpan.FromSeconds(12));
        }
        (await OwnerScalarAsync<long>(app, tenant.Id, "SELECT count(*) FROM mail_deliveries WHERE tenant_id = @t AND sent_at IS NOT NULL")).ShouldBe(0);
        silent.Stop();
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, Func<Task<string>>? explain = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new ShouldAssertException("The condition never held. " + (explain is null ? "" : await explain()));
            }
            await Task.Delay(200);
        }
    }
}
