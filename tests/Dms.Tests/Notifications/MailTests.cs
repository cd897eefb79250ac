using System.Net;
using System.Net.Http.Json;
using Dms.Modules.Notifications.Mail;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Shouldly;
using Xunit;
using static Dms.Tests.Notifications.MailSupport;

namespace Dms.Tests.Notifications;

/// <summary>The app of the mail tests: its own database and a real SMTP server, and a clock the digest test sets.</summary>
public sealed class MailFixture : IAsyncLifetime
{
    internal SmtpTestServer Smtp { get; } = new();
    internal SettableClock Clock { get; } = new();
    internal DmsApp App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Smtp.Start();
        App = await StartAppAsync($"mail_{Guid.NewGuid():N}"[..16], Smtp, new Dictionary<string, string> { ["Dms:Outbox:Mail:MaxAttempts"] = "1000" },
            services => services.AddSingleton<TimeProvider>(Clock));
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Smtp.DisposeAsync();
    }
}

/// <summary>The real clock, or a moment a test sets for a step (the digest is due at an hour of the day).</summary>
internal sealed class SettableClock : TimeProvider
{
    public DateTimeOffset? Now { get; set; }

    public override DateTimeOffset GetUtcNow() => Now ?? base.GetUtcNow();
}

/// <summary>
/// E-mail notifications end to end: a request made through the API, the outbox, MailKit, and a real SMTP server that
/// receives the mail; its text names the document and its link opens it; preferences, access and the digest decide
/// what is sent. Each test makes a tenant of its own.
/// </summary>
public sealed class MailTests(MailFixture fixture) : IClassFixture<MailFixture>
{
    private DmsApp App => fixture.App;
    private SmtpTestServer Smtp => fixture.Smtp;

    [Fact]
    public async Task A_request_mails_the_approvers_naming_the_document_with_a_link_that_opens_it()
    {
        var tenant = await App.CreateTenantAsync();
        var member = await tenant.CreateUserAsync("Member");
        var title = $"Budget {Guid.NewGuid():N}"[..20];
        var documentId = await UploadAsync(member, title);
        await RequestDeleteAsync(member, documentId);

        var mail = (await Smtp.WaitForAsync(tenant.Admin.Email, where: m => m.TextBody!.Contains(title, StringComparison.Ordinal)
            && m.Headers[HeaderId.ListUnsubscribe] is not null)).ShouldHaveSingleItem();
        mail.Subject!.ShouldContain(title);
        mail.TextBody!.ShouldContain($"Document: “{title}”");
        mail.HtmlBody!.ShouldContain(WebUtility.HtmlEncode(title));
        mail.From.Mailboxes.Single().Address.ShouldBe("dms@tests.example");
        mail.MessageId!.ShouldMatch(@"^dms\.[0-9a-f]{32}\.[0-9a-f]{32}@tests\.example$");
        mail.Headers[HeaderId.ListUnsubscribe].ShouldStartWith($"<{PublicUrl}unsubscribe?token=");
        mail.Headers["List-Unsubscribe-Post"].ShouldBe("List-Unsubscribe=One-Click");

        var link = Links(mail).First(l => l.AbsolutePath == $"/documents/{documentId}");
        var ui = await tenant.SignInToUiAsync(tenant.Admin);
        using var page = await ui.GetAsync(link.PathAndQuery);
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await page.Content.ReadAsStringAsync()).ShouldContain(WebUtility.HtmlEncode(title));
    }

    [Fact]
    public async Task Preferences_decide_the_channels_none_and_in_app_only_send_no_mail()
    {
        var tenant = await App.CreateTenantAsync();
        var inAppOnly = await tenant.CreateUserAsync("Admin");
        var none = await tenant.CreateUserAsync("Admin");
        var emailOnly = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");
        await SetPreferenceAsync(inAppOnly, "approval.requested", inApp: true, email: false);
        await SetPreferenceAsync(none, "approval.requested", inApp: false, email: false);
        await SetPreferenceAsync(emailOnly, "approval.requested", inApp: false, email: true);

        var title = $"Prefs {Guid.NewGuid():N}"[..20];
        await RequestDeleteAsync(member, await UploadAsync(member, title));
        await Smtp.WaitForAsync(tenant.Admin.Email, where: m => m.Subject!.Contains(title, StringComparison.Ordinal)); // the default: both
        await Smtp.WaitForAsync(emailOnly.Email, where: m => m.Subject!.Contains(title, StringComparison.Ordinal));
        await WaitForQuietOutboxAsync(App, tenant.Id);

        Smtp.To(inAppOnly.Email).ShouldBeEmpty();
        Smtp.To(none.Email).ShouldBeEmpty();
        (await InAppCountAsync(tenant.Admin)).ShouldBe(1);
        (await InAppCountAsync(inAppOnly)).ShouldBe(1);
        (await InAppCountAsync(none)).ShouldBe(0);
        (await InAppCountAsync(emailOnly)).ShouldBe(0);
    }

    [Fact]
    public async Task At_send_time_a_disabled_user_or_one_who_lost_access_gets_no_mail()
    {
        var tenant = await App.CreateTenantAsync();
        var willBeDisabled = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");
        var title = $"Recheck {Guid.NewGuid():N}"[..20];
        var documentId = await UploadAsync(member, title);

        // The mails are queued while the server is down, and the recipients change before it comes back.
        await Smtp.StopAsync();
        try
        {
            var approvalId = await RequestDeleteAsync(member, documentId);
            using (var rejected = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/reject", new { reason = "Still needed" }))
            {
                await rejected.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            await WaitForDeliveriesAsync(tenant.Id, 3); // requested → both admins, rejected → the member
            using (var disable = await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{willBeDisabled.UserId}", new { disabled = true }))
            {
                await disable.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            using (var remove = await tenant.Admin.Client.DeleteAsync($"/api/v1/workspaces/{tenant.DefaultWorkspaceId}/members/{member.UserId}"))
            {
                await remove.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
            }
        }
        finally
        {
            Smtp.Start();
        }

        await Smtp.WaitForAsync(tenant.Admin.Email, where: m => m.Subject!.Contains(title, StringComparison.Ordinal));
        await WaitForQuietOutboxAsync(App, tenant.Id);
        Smtp.To(willBeDisabled.Email).ShouldBeEmpty();
        Smtp.To(member.Email).ShouldBeEmpty();
        (await OwnerScalarAsync<string>(App, tenant.Id, "SELECT skipped_reason FROM mail_deliveries WHERE tenant_id = @t AND user_id = @u",
            ("u", willBeDisabled.UserId))).ShouldBe("the user is disabled");
        (await OwnerScalarAsync<string>(App, tenant.Id, "SELECT skipped_reason FROM mail_deliveries WHERE tenant_id = @t AND user_id = @u",
            ("u", member.UserId))).ShouldBe("the user may no longer read the document");
    }

    [Fact]
    public async Task A_deleted_document_is_said_to_be_deleted_and_an_admins_link_opens_its_trash_entry()
    {
        var tenant = await App.CreateTenantAsync();
        var approver = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");

        // A member's request, carried out: the document is in the trash when its "executed" mail is written.
        var memberTitle = $"Gone {Guid.NewGuid():N}"[..20];
        var memberDocument = await UploadAsync(member, memberTitle);
        var first = await RequestDeleteAsync(member, memberDocument);
        (await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{first}/approve", new { comment = "ok" })).EnsureSuccessStatusCode();
        var memberMail = (await Smtp.WaitForAsync(member.Email, where: m => m.Subject!.Contains(memberTitle, StringComparison.Ordinal)
            && m.TextBody!.Contains("carried out", StringComparison.Ordinal))).ShouldHaveSingleItem();
        memberMail.TextBody!.ShouldContain($"The document “{memberTitle}” has since been deleted.");
        var memberLink = Links(memberMail).First(l => l.AbsolutePath == $"/documents/{memberDocument}");
        var memberUi = await tenant.SignInToUiAsync(member);
        using (var page = await memberUi.GetAsync(memberLink.PathAndQuery))
        {
            page.StatusCode.ShouldBe(HttpStatusCode.NotFound);
            var html = await page.Content.ReadAsStringAsync();
            html.ShouldContain("was deleted");
            html.ShouldContain(WebUtility.HtmlEncode(memberTitle));
        }

        // An admin's own request: their link goes to the trash entry.
        var adminTitle = $"Trash {Guid.NewGuid():N}"[..20];
        var adminDocument = await UploadAsync(tenant.Admin, adminTitle);
        var second = await RequestDeleteAsync(tenant.Admin, adminDocument);
        (await approver.Client.PostAsJsonAsync($"/api/v1/approvals/{second}/approve", new { comment = "ok" })).EnsureSuccessStatusCode();
        var adminMail = (await Smtp.WaitForAsync(tenant.Admin.Email, where: m => m.Subject!.Contains(adminTitle, StringComparison.Ordinal)
            && m.TextBody!.Contains("carried out", StringComparison.Ordinal))).ShouldHaveSingleItem();
        adminMail.TextBody!.ShouldContain("it is in the trash");
        var trashLink = Links(adminMail).First(l => l.AbsolutePath == "/admin/trash" && l.Fragment == $"#trash-{adminDocument}");
        var adminUi = await tenant.SignInToUiAsync(tenant.Admin);
        using var trash = await adminUi.GetAsync(trashLink.PathAndQuery);
        trash.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await trash.Content.ReadAsStringAsync()).ShouldContain($"id=\"trash-{adminDocument}\"");
    }

    [Fact]
    public async Task The_unsubscribe_link_works_signed_out_turns_off_that_kind_and_is_idempotent()
    {
        var tenant = await App.CreateTenantAsync();
        var member = await tenant.CreateUserAsync("Member");
        var title = $"Unsub {Guid.NewGuid():N}"[..20];
        await RequestDeleteAsync(member, await UploadAsync(member, title));
        var mail = (await Smtp.WaitForAsync(tenant.Admin.Email, where: m => m.Subject!.Contains(title, StringComparison.Ordinal))).Single();
        var url = new Uri(mail.Headers[HeaderId.ListUnsubscribe]!.Trim('<', '>'));
        Links(mail).ShouldContain(url);

        var anonymous = App.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using (var offer = await anonymous.GetAsync(url.PathAndQuery))
        {
            offer.StatusCode.ShouldBe(HttpStatusCode.OK);
            var html = await offer.Content.ReadAsStringAsync();
            html.ShouldContain("Decision requested");
            html.ShouldContain("unsubscribe-all");
        }
        (await Email(tenant.Admin, "approval.requested")).ShouldBeTrue("opening the link only asks");

        for (var i = 0; i < 2; i++)
        {
            using var done = await anonymous.PostAsync(url.PathAndQuery, new FormUrlEncodedContent(new Dictionary<string, string> { ["Scope"] = "kind" }));
            done.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await done.Content.ReadAsStringAsync()).ShouldContain("data-testid=\"unsubscribed\"");
        }
        (await Email(tenant.Admin, "approval.requested")).ShouldBeFalse();
        (await InApp(tenant.Admin, "approval.requested")).ShouldBeTrue("in-app stays as it was");
        (await Email(tenant.Admin, "approval.decided")).ShouldBeTrue("other kinds keep their e-mail");

        // A mail client's RFC 8058 one-click POST, and "all" from the page.
        using (var oneClick = await anonymous.PostAsync(url.PathAndQuery, new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" })))
        {
            oneClick.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        using (var all = await anonymous.PostAsync(url.PathAndQuery, new FormUrlEncodedContent(new Dictionary<string, string> { ["Scope"] = "all" })))
        {
            all.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        (await PreferencesAsync(tenant.Admin)).GetProperty("kinds").EnumerateArray().ShouldAllBe(k => !k.GetProperty("email").GetBoolean());

        // A forged or altered token changes nothing.
        var token = System.Web.HttpUtility.ParseQueryString(url.Query)["token"]!;
        var forged = token[..^3] + (token[^3..] == "AAA" ? "BBB" : "AAA");
        using var refused = await anonymous.PostAsync($"/unsubscribe?token={Uri.EscapeDataString(forged)}",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["Scope"] = "all" }));
        refused.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_daily_digest_collects_a_days_mail_into_one_message_at_the_configured_hour()
    {
        var tenant = await App.CreateTenantAsync();
        var member = await tenant.CreateUserAsync("Member");
        var reader = await tenant.CreateUserAsync("Admin"); // every tenant's first admin has the same address: a fresh one
        await SetDigestAsync(reader, "daily");
        var titles = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var title = $"Digest {i} {Guid.NewGuid():N}"[..20];
            titles.Add(title);
            await RequestDeleteAsync(member, await UploadAsync(member, title));
        }
        await WaitForQuietOutboxAsync(App, tenant.Id);
        Smtp.To(reader.Email).ShouldBeEmpty("a digest user gets nothing right away");

        var tomorrow = DateTime.UtcNow.Date.AddDays(1);
        (await RunDigestAtAsync(tomorrow.AddHours(6))).ShouldBe(0, "before Dms__Mail__DigestHour (7)");
        (await RunDigestAtAsync(tomorrow.AddHours(7.5))).ShouldBe(1);
        (await RunDigestAtAsync(tomorrow.AddHours(9))).ShouldBe(0, "one digest a day");
        var digest = (await Smtp.WaitForAsync(reader.Email)).ShouldHaveSingleItem();
        digest.Subject!.ShouldBe("Your daily summary: 2 notifications");
        foreach (var title in titles)
        {
            digest.TextBody!.ShouldContain(title);
        }
        digest.Headers[HeaderId.ListUnsubscribe].ShouldNotBeNull();

        // Held later the same day: it waits for the next day's digest.
        var late = $"Digest late {Guid.NewGuid():N}"[..20];
        await RequestDeleteAsync(member, await UploadAsync(member, late));
        await WaitForQuietOutboxAsync(App, tenant.Id);
        (await RunDigestAtAsync(tomorrow.AddHours(10))).ShouldBe(0, "one digest a day");
        (await RunDigestAtAsync(tomorrow.AddDays(1).AddHours(8))).ShouldBe(1);
        var next = (await Smtp.WaitForAsync(reader.Email, 2)).Single(m => m.MessageId != digest.MessageId);
        next.Subject.ShouldBe("Your daily summary: 1 notification");
        next.TextBody!.ShouldContain(late);

        // The day after, with nothing held: no mail.
        (await RunDigestAtAsync(tomorrow.AddDays(2).AddHours(8))).ShouldBe(0);
        await WaitForQuietOutboxAsync(App, tenant.Id);
        Smtp.To(reader.Email).Count.ShouldBe(2);
    }

    [Fact]
    public async Task A_recipient_the_server_refuses_for_good_is_dead_lettered_at_once()
    {
        var tenant = await App.CreateTenantAsync();
        var bouncing = await tenant.CreateUserAsync("Admin", $"bounce-{Guid.NewGuid():N}"[..20] + "@example.test");
        var member = await tenant.CreateUserAsync("Member");
        await RequestDeleteAsync(member, await UploadAsync(member, "Bounce"));
        await WaitForQuietOutboxAsync(App, tenant.Id);
        var dead = await OwnerScalarAsync<string>(App, tenant.Id, """
            SELECT status || ' ' || attempts || ' ' || last_error FROM outbox_messages
            WHERE tenant_id = @t AND type = 'mail.send' AND status = 'Dead'
            """);
        dead.ShouldBe("Dead 1 The mail server refused the recipient for good (550).");
        Smtp.To(bouncing.Email).ShouldBeEmpty();
    }

    private async Task<int> RunDigestAtAsync(DateTime utc)
    {
        fixture.Clock.Now = new DateTimeOffset(utc, TimeSpan.Zero);
        try
        {
            var job = App.Service<DigestJob>();
            for (var i = 0; ; i++)
            {
                if (await job.RunOnceAsync(CancellationToken.None) is { } queued)
                {
                    return queued;
                }
                i.ShouldBeLessThan(100, "the digest job's lock stayed taken");
                await Task.Delay(100);
            }
        }
        finally
        {
            fixture.Clock.Now = null;
        }
    }

    private async Task WaitForDeliveriesAsync(Guid tenant, long count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await OwnerScalarAsync<long>(App, tenant, "SELECT count(*) FROM mail_deliveries WHERE tenant_id = @t") < count)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, $"fewer than {count} mails were queued");
            await Task.Delay(100);
        }
    }

    private static async Task<int> InAppCountAsync(SignedIn who) =>
        (await (await who.Client.GetAsync("/api/v1/notifications?limit=200")).JsonAsync()).GetProperty("items").GetArrayLength();

    private static async Task<bool> Email(SignedIn who, string kind) =>
        (await PreferencesAsync(who)).GetProperty("kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == kind).GetProperty("email").GetBoolean();

    private static async Task<bool> InApp(SignedIn who, string kind) =>
        (await PreferencesAsync(who)).GetProperty("kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == kind).GetProperty("inApp").GetBoolean();
}
