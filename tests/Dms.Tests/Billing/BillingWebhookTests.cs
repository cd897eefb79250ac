using System.Net;
using System.Text;
using Dms.Tests.Infrastructure;
using Dms.Tests.Sharing;
using Shouldly;
using Xunit;
using static Dms.Tests.Billing.BillingSupport;

namespace Dms.Tests.Billing;

/// <summary>
/// The billing webhook (issue 17, item 5): signed with HMAC-SHA256 over "{t}.{body}" and a timestamp tolerance; stored
/// once by event id and applied once, also under 50 parallel deliveries; applied in the provider's order (an older event
/// after a newer one is stale); unknown types stored and ignored; bad input answered with stable codes. Each test has a
/// tenant of its own on the billing app.
/// </summary>
public sealed class BillingWebhookTests
{
    [Fact]
    public async Task A_good_signature_is_accepted_a_bad_or_missing_one_is_401_and_a_stale_timestamp_is_401()
    {
        var t = await TenantOnPlanAsync();
        var body = Body($"evt_{Guid.NewGuid():N}", "payment.succeeded", DateTimeOffset.UtcNow, t.Slug);

        using (var wrongSecret = await PostAsync(t.App, body, Header(body, secret: "another-secret")))
        {
            await wrongSecret.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "billing.invalid_signature");
        }
        using (var missing = await PostAsync(t.App, body, null))
        {
            await missing.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "billing.invalid_signature");
        }
        using (var tampered = await PostAsync(t.App, body.Replace("payment.succeeded", "payment.failed", StringComparison.Ordinal), Header(body)))
        {
            await tampered.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "billing.invalid_signature");
        }
        using (var stale = await PostAsync(t.App, body, Header(body, DateTimeOffset.UtcNow.AddMinutes(-6))))
        {
            await stale.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "billing.stale_timestamp");
        }
        using (var future = await PostAsync(t.App, body, Header(body, DateTimeOffset.UtcNow.AddMinutes(6))))
        {
            await future.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "billing.stale_timestamp");
        }
        (await StatusAsync(t)).ShouldBe("trialing", "no refused delivery changed anything");

        // Rotation: the provider signs with the old and the new secret; one matching v1 is enough.
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using (var rotated = await PostAsync(t.App, body, $"t={now},v1={Sign(body, now, "old-secret")},v1={Sign(body, now)}"))
        {
            await rotated.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await rotated.JsonAsync()).GetProperty("outcome").GetString().ShouldBe("applied");
        }
        (await StatusAsync(t)).ShouldBe("active");
    }

    [Fact]
    public async Task Fifty_parallel_deliveries_of_one_event_change_the_state_once_with_one_audit_event_and_all_get_200()
    {
        var t = await TenantOnPlanAsync();
        var body = Body($"evt_{Guid.NewGuid():N}", "payment.failed", DateTimeOffset.UtcNow, t.Slug);
        var signature = Header(body);
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var response = await PostAsync(t.App, body, signature);
            return (response.StatusCode, Json: await response.Content.ReadAsStringAsync());
        }));
        responses.Where(r => r.StatusCode != HttpStatusCode.OK).ShouldBeEmpty();
        responses.Count(r => r.Json.Contains("\"duplicate\":false", StringComparison.Ordinal)).ShouldBe(1, "exactly one delivery stored the event");
        responses.ShouldAllBe(r => r.Json.Contains("\"outcome\":\"applied\"", StringComparison.Ordinal));
        (await StatusAsync(t)).ShouldBe("past_due");
        (await AuditCountAsync(t, "subscription.changed")).ShouldBe(1);
        (await ShareLinkTests.OwnerScalarAsync<long>(t.App, t.Id, "SELECT count(*) FROM billing_events WHERE tenant_id = @t", ("t", t.Id))).ShouldBe(1);
    }

    [Fact]
    public async Task An_older_event_arriving_after_a_newer_one_is_stored_as_stale_and_changes_nothing()
    {
        var t = await TenantOnPlanAsync();
        var now = DateTimeOffset.UtcNow;
        (await DeliverAsync(t, "subscription.paused", now)).GetProperty("outcome").GetString().ShouldBe("applied");
        var late = await DeliverAsync(t, "payment.succeeded", now.AddMinutes(-1));
        late.GetProperty("outcome").GetString().ShouldBe("stale");
        (await StatusAsync(t)).ShouldBe("paused");
        (await AuditCountAsync(t, "subscription.changed")).ShouldBe(1);
        (await ShareLinkTests.OwnerScalarAsync<string>(t.App, t.Id, "SELECT outcome FROM billing_events WHERE tenant_id = @t AND type = 'payment.succeeded'", ("t", t.Id)))
            .ShouldBe("Stale");
        // A newer one applies.
        (await DeliverAsync(t, "payment.succeeded", now.AddSeconds(1))).GetProperty("outcome").GetString().ShouldBe("applied");
        (await StatusAsync(t)).ShouldBe("active");
    }

    [Fact]
    public async Task An_unknown_event_type_is_answered_200_stored_and_ignored()
    {
        var t = await TenantOnPlanAsync();
        var answer = await DeliverAsync(t, "invoice.upcoming", DateTimeOffset.UtcNow);
        answer.GetProperty("outcome").GetString().ShouldBe("ignored");
        (await StatusAsync(t)).ShouldBe("trialing");
        (await ShareLinkTests.OwnerScalarAsync<string>(t.App, t.Id, "SELECT payload->>'type' FROM billing_events WHERE tenant_id = @t", ("t", t.Id)))
            .ShouldBe("invoice.upcoming");
        (await AuditCountAsync(t, "subscription.changed")).ShouldBe(0);
    }

    [Fact]
    public async Task Each_event_moves_the_subscription_as_the_transition_table_allows_and_a_canceled_one_stays_canceled()
    {
        var t = await TenantOnPlanAsync();
        var at = DateTimeOffset.UtcNow.AddMinutes(-3);
        (await DeliverAsync(t, "subscription.activated", at)).GetProperty("outcome").GetString().ShouldBe("applied");
        (await StatusAsync(t)).ShouldBe("active");
        await DeliverAsync(t, "payment.failed", at.AddSeconds(10));
        (await StatusAsync(t)).ShouldBe("past_due");
        await DeliverAsync(t, "payment.succeeded", at.AddSeconds(20));
        (await StatusAsync(t)).ShouldBe("active");
        await DeliverAsync(t, "subscription.paused", at.AddSeconds(30));
        (await StatusAsync(t)).ShouldBe("paused");
        await DeliverAsync(t, "subscription.canceled", at.AddSeconds(40));
        (await StatusAsync(t)).ShouldBe("canceled");
        // Canceled is final: a later payment does not revive it.
        (await DeliverAsync(t, "payment.succeeded", at.AddSeconds(50))).GetProperty("outcome").GetString().ShouldBe("not_applicable");
        (await StatusAsync(t)).ShouldBe("canceled");
        (await AuditCountAsync(t, "subscription.changed")).ShouldBe(5);

        var usage = (await UsageAsync(t.Admin)).GetProperty("subscription");
        var canceledAt = usage.GetProperty("canceledAt").GetDateTime();
        usage.GetProperty("deletionScheduledAt").GetDateTime().ShouldBe(canceledAt.AddDays(30), "Dms__Billing__DeletionDelay defaults to 30 days");
    }

    [Fact]
    public async Task Bad_input_is_a_4xx_with_a_code_and_an_unknown_tenant_is_404()
    {
        var app = await AppAsync();
        const string notJson = "{not json";
        using (var malformed = await PostAsync(app, notJson, Header(notJson)))
        {
            await malformed.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.malformed");
        }
        const string missing = "{\"type\":\"payment.failed\"}";
        using (var incomplete = await PostAsync(app, missing, Header(missing)))
        {
            await incomplete.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        var unknown = Body($"evt_{Guid.NewGuid():N}", "payment.failed", DateTimeOffset.UtcNow, "no-such-tenant-here");
        using (var nobody = await PostAsync(app, unknown, Header(unknown)))
        {
            await nobody.ShouldBeProblemAsync(HttpStatusCode.NotFound, "billing.unknown_tenant");
        }
        var huge = "{\"id\":\"x\",\"pad\":\"" + new string('a', 70 * 1024) + "\"}";
        using (var tooLarge = await PostAsync(app, huge, Header(huge)))
        {
            await tooLarge.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "request.too_large");
        }
        using var client = app.CreateClient();
        using var wrongType = await client.PostAsync("/api/v1/billing/webhook", new StringContent("x", Encoding.UTF8, "text/plain"));
        await wrongType.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "billing.invalid_signature");
    }

    [Fact]
    public async Task Without_a_secret_the_webhook_is_404_billing_disabled()
    {
        var shared = await DmsApp.GetAsync();
        var body = Body("evt_x", "payment.failed", DateTimeOffset.UtcNow, "demo");
        using var response = await PostAsync(shared, body, Header(body));
        await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "billing.disabled");
    }
}
