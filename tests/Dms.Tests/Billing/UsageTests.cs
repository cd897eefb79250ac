using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Dms.Tests.Sharing;
using Shouldly;
using Xunit;
using static Dms.Tests.Billing.BillingSupport;

namespace Dms.Tests.Billing;

/// <summary>
/// <c>GET /api/v1/tenant/usage</c> (any signed-in user), the plan's feature switches (share links, webhooks: 402
/// <c>plan.feature_unavailable</c>), and the <c>/admin/usage</c> page with its bars and words.
/// </summary>
public sealed class UsageTests
{
    [Fact]
    public async Task Usage_shows_seats_storage_and_the_subscription_to_any_member_of_the_tenant()
    {
        var t = await TenantOnPlanAsync(seats: 5, storageBytes: 5L * 1024 * 1024 * 1024);
        var viewer = await t.CreateUserAsync("Viewer");
        await UploadAsync(t.Admin);
        var usage = await UsageAsync(viewer);

        var seats = usage.GetProperty("seats");
        seats.GetProperty("used").GetInt32().ShouldBe(2);
        seats.GetProperty("limit").GetInt32().ShouldBe(5);
        var storage = usage.GetProperty("storage");
        storage.GetProperty("usedBytes").GetInt64().ShouldBeGreaterThan(0);
        storage.GetProperty("limitBytes").GetInt64().ShouldBe(5L * 1024 * 1024 * 1024);
        storage.GetProperty("reservedBytes").GetInt64().ShouldBe(0);
        var subscription = usage.GetProperty("subscription");
        subscription.GetProperty("status").GetString().ShouldBe("trialing");
        subscription.GetProperty("plan").GetProperty("name").GetString()!.ShouldStartWith("plan-");
        subscription.GetProperty("plan").GetProperty("id").GetGuid().ShouldNotBe(Guid.Empty);
        subscription.GetProperty("trialEndsAt").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddDays(13));
        foreach (var name in new[] { "pastDueSince", "readOnlyFrom", "canceledAt", "deletionScheduledAt", "currentPeriodEnd" })
        {
            subscription.GetProperty(name).ValueKind.ShouldBe(JsonValueKind.Null, name);
        }
        subscription.GetProperty("allows").GetProperty("write").GetBoolean().ShouldBeTrue();
        subscription.GetProperty("allows").GetProperty("export").GetBoolean().ShouldBeTrue();

        using var anonymous = t.App.CreateClient();
        (await anonymous.GetAsync("/api/v1/tenant/usage")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_plan_without_share_links_or_webhooks_refuses_creating_them_with_402()
    {
        var off = await TenantOnPlanAsync(features: new Dictionary<string, bool> { ["shareLinks"] = false, ["webhooks"] = false });
        var documentId = await UploadAsync(off.Admin);
        using (var share = await off.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) }))
        {
            await share.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "plan.feature_unavailable");
        }
        using (var hook = await off.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://example.com/hook", events = new[] { "document.created" } }))
        {
            await hook.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "plan.feature_unavailable");
        }

        var on = await TenantOnPlanAsync(features: new Dictionary<string, bool> { ["shareLinks"] = true });
        var shared = await UploadAsync(on.Admin);
        await ShareLinkTests.ShareAsync(on.Admin, shared);
    }

    [Fact]
    public async Task The_usage_page_shows_bars_plan_and_state_in_words_and_is_linked_for_admins_only()
    {
        var t = await TenantOnPlanAsync(seats: 5, storageBytes: 5L * 1024 * 1024 * 1024);
        await t.CreateUserAsync("Member");
        var member = await t.CreateUserAsync("Member");
        var ui = await t.SignInToUiAsync(t.Admin);
        var html = await ui.GetStringAsync("/admin/usage");
        html.ShouldContain("Plan and usage");
        html.ShouldContain("3 of 5 seats");
        html.ShouldContain("of 5 GB");
        html.ShouldContain("<meter id=\"seats-meter\"");
        html.ShouldContain("Trial ends ");
        html.ShouldContain("href=\"/admin/usage\"");
        html.ShouldNotContain("trialing");

        await DeliverAsync(t, "payment.failed", DateTimeOffset.UtcNow);
        html = await ui.GetStringAsync("/admin/usage");
        html.ShouldContain("Payment failed: editing stops on ");
        html.ShouldContain("data-testid=\"subscription-banner\"");

        await DeliverAsync(t, "subscription.canceled", DateTimeOffset.UtcNow.AddSeconds(1));
        html = await ui.GetStringAsync("/admin/usage");
        html.ShouldContain("Canceled: data will be deleted on ");

        var memberUi = await t.SignInToUiAsync(member);
        var documents = await memberUi.GetStringAsync("/documents");
        documents.ShouldContain("Subscription canceled: documents can still be read, downloaded and exported until");
        documents.ShouldNotContain("href=\"/admin/usage\"");
        using var denied = await memberUi.GetAsync("/admin/usage");
        denied.StatusCode.ShouldNotBe(HttpStatusCode.OK);
    }
}
