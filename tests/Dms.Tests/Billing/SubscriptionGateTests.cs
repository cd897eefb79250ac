using System.Net;
using System.Net.Http.Json;
using Dms.Modules.Billing.Subscriptions;
using Dms.Tests.Bulk;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using static Dms.Tests.Billing.BillingSupport;

namespace Dms.Tests.Billing;

/// <summary>
/// The write gate (issue 17, item 4): what each subscription state allows, enforced with 402 and a code; what must keep
/// working (reading, downloads, bulk ZIP exports, signing in) keeps working; the trial's end is recorded by the worker's pass.
/// </summary>
public sealed class SubscriptionGateTests
{
    [Fact]
    public async Task Past_due_writes_work_within_the_grace_period_and_are_402_read_only_after_it()
    {
        var t = await TenantOnPlanAsync();
        await DeliverAsync(t, "payment.failed", DateTimeOffset.UtcNow);
        var usage = (await UsageAsync(t.Admin)).GetProperty("subscription");
        usage.GetProperty("status").GetString().ShouldBe("past_due");
        usage.GetProperty("allows").GetProperty("write").GetBoolean().ShouldBeTrue();
        var documentId = await UploadAsync(t.Admin);

        await SetSubscriptionAsync(t, "past_due_since = now() - interval '8 days'");
        await UploadAsync(t.Admin, HttpStatusCode.PaymentRequired, "subscription.read_only");
        using (var folder = await t.Admin.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = t.DefaultWorkspaceId, name = "refused" }))
        {
            await folder.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "subscription.read_only");
        }
        (await t.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/content")).StatusCode.ShouldBe(HttpStatusCode.OK);
        usage = (await UsageAsync(t.Admin)).GetProperty("subscription");
        usage.GetProperty("allows").GetProperty("write").GetBoolean().ShouldBeFalse();
        usage.GetProperty("allows").GetProperty("export").GetBoolean().ShouldBeTrue();

        // Paying again opens writes at once on this node (the cached state is forgotten on change).
        await DeliverAsync(t, "payment.succeeded", DateTimeOffset.UtcNow.AddSeconds(1));
        await UploadAsync(t.Admin);
    }

    [Fact]
    public async Task Paused_refuses_an_upload_with_402_but_signing_in_and_reading_still_work()
    {
        var t = await TenantOnPlanAsync();
        var documentId = await UploadAsync(t.Admin);
        await DeliverAsync(t, "subscription.paused", DateTimeOffset.UtcNow);
        var refused = await UploadAsyncProblem(t.Admin);
        refused.GetProperty("code").GetString().ShouldBe("subscription.paused");
        refused.GetProperty("title").GetString()!.ShouldContain("read-only");

        var again = await t.SignInAsync(t.Admin.Email, t.Admin.Password);
        (await again.Client.GetAsync("/api/v1/documents")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await again.Client.GetAsync($"/api/v1/documents/{documentId}/content")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Canceled_allows_downloads_and_a_bulk_zip_export_and_refuses_other_writes_with_the_deletion_date_shown()
    {
        var t = await TenantOnPlanAsync();
        var documentId = await UploadAsync(t.Admin);
        await DeliverAsync(t, "subscription.canceled", DateTimeOffset.UtcNow);

        (await t.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/content")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var jobId = await BulkSupport.StartAsync(t.Admin, new { action = "zip", documentIds = new[] { documentId } });
        await BulkSupport.WaitAsync(t.Admin, jobId);
        using (var zip = await t.Admin.Client.GetAsync($"/api/v1/bulk-jobs/{jobId}/content"))
        {
            await zip.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var tag = await t.Admin.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "addTags", documentIds = new[] { documentId }, @params = new { tags = new[] { "x" } } }))
        {
            await tag.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "subscription.canceled");
        }
        await UploadAsync(t.Admin, HttpStatusCode.PaymentRequired, "subscription.canceled");

        // The browser: a refused form post is a page with the message, and every page carries the banner.
        var ui = await t.SignInToUiAsync(t.Admin);
        var page = await ui.GetStringAsync("/admin/workspaces");
        page.ShouldContain("Subscription canceled: documents can still be read, downloaded and exported until");
        using var post = await ui.PostFormAsync("/admin/workspaces?handler=Create", page, new() { ["name"] = "refused" });
        post.StatusCode.ShouldBe(HttpStatusCode.PaymentRequired);
        var html = await post.Content.ReadAsStringAsync();
        html.ShouldContain("The subscription is canceled");
        html.ShouldNotContain("Exception");
    }

    [Fact]
    public async Task An_ended_trial_is_past_due_from_its_end_and_the_worker_pass_records_it_once_with_its_reason()
    {
        var t = await TenantOnPlanAsync();
        await SetSubscriptionAsync(t, "trial_ends_at = now() - interval '1 day'");
        // Enforced at once: past due from the trial's end, still within the grace period.
        (await StatusAsync(t)).ShouldBe("past_due");
        await UploadAsync(t.Admin);

        var expiry = t.App.Service<TrialExpiry>();
        (await expiry.ExpireAsync(t.Id, CancellationToken.None)).ShouldBeTrue();
        (await expiry.ExpireAsync(t.Id, CancellationToken.None)).ShouldBeFalse("already recorded");
        (await AuditCountAsync(t, "subscription.changed")).ShouldBe(1);
        (await Sharing.ShareLinkTests.OwnerScalarAsync<string>(t.App, t.Id,
            "SELECT data->'cause'->>'reason' FROM audit_events WHERE tenant_id = @t AND action = 'subscription.changed'", ("t", t.Id))).ShouldBe("trial_ended");
        (await Sharing.ShareLinkTests.OwnerScalarAsync<string>(t.App, t.Id, "SELECT status FROM tenant_subscriptions WHERE tenant_id = @t", ("t", t.Id)))
            .ShouldBe("PastDue");

        await SetSubscriptionAsync(t, "past_due_since = now() - interval '8 days'");
        await UploadAsync(t.Admin, HttpStatusCode.PaymentRequired, "subscription.read_only");
    }

    [Fact]
    public async Task A_tenant_without_a_plan_is_never_gated()
    {
        var app = await AppAsync();
        var t = await app.CreateTenantAsync();
        await UploadAsync(t.Admin);
        var usage = await UsageAsync(t.Admin);
        usage.GetProperty("subscription").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
    }

    private static async Task<System.Text.Json.JsonElement> UploadAsyncProblem(SignedIn who)
    {
        using var response = await who.Client.PostAsync("/api/v1/documents", Uploads.Form("p.txt", Uploads.Text("paused")));
        return await response.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired);
    }
}
