using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Webhooks;

/// <summary>
/// A test app of its own whose webhooks may reach loopback (the receivers run on 127.0.0.1), with a retry schedule in
/// tenths of a second (12 attempts), a breaker that opens after 3 failures in a row and probes every half second.
/// </summary>
public sealed class WebhookFixture : IAsyncLifetime
{
    internal DmsApp App { get; private set; } = null!;

    public async Task InitializeAsync() => App = await DmsApp.CreateIsolatedAsync("hooks", new Dictionary<string, string>
    {
        ["Dms:Webhooks:AllowPrivateTargets"] = "true",
        ["Dms:Webhooks:RetrySchedule"] = "00:00:00.100,00:00:00.150,00:00:00.200,00:00:00.250,00:00:00.300,00:00:00.300,00:00:00.300,00:00:00.300,00:00:00.300,00:00:00.300,00:00:00.300",
        ["Dms:Webhooks:BreakerThreshold"] = "3",
        ["Dms:Webhooks:BreakerProbeInterval"] = "00:00:00.500",
        ["Dms:Webhooks:PollInterval"] = "00:00:00.050",
        ["Dms:Webhooks:Timeout"] = "00:00:05",
    });

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>
/// Webhooks end to end (issue 15): real receivers over real HTTP, signatures verified the way a receiver would,
/// the 50%-failing receiver, the breaker, dead letters and replay, rotation, the test event, and who may manage them.
/// Each test makes its own tenant.
/// </summary>
public sealed class WebhookTests(WebhookFixture f) : IClassFixture<WebhookFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    private static async Task<(Guid Id, string Secret)> RegisterAsync(TestTenant tenant, Uri url, params string[] events)
    {
        using var response = await tenant.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url = url.ToString(), events, description = "test receiver" });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var body = await response.JsonAsync();
        var secret = body.GetProperty("secret").GetString()!;
        secret.ShouldStartWith("whsec_");
        Convert.FromBase64String(secret["whsec_".Length..]).Length.ShouldBe(32);
        return (body.GetProperty("id").GetGuid(), secret);
    }

    private static async Task<List<JsonElement>> DeliveriesAsync(TestTenant tenant, Guid webhook)
    {
        using var response = await tenant.Admin.Client.GetAsync($"/api/v1/webhooks/{webhook}/deliveries?limit=200");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return [.. (await response.JsonAsync()).GetProperty("items").EnumerateArray()];
    }

    /// <summary>Polls until <paramref name="done"/> holds, with a generous deadline for a loaded machine.</summary>
    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var until = DateTime.UtcNow + Deadline;
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }
            if (DateTime.UtcNow > until)
            {
                throw new ShouldAssertException($"Timed out waiting for {what}: {JsonSerializer.Serialize(value)}");
            }
            await Task.Delay(100);
        }
    }

    private static async Task<Guid> UploadAsync(TestTenant tenant, string title)
    {
        using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text(title), title));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task EditAsync(TestTenant tenant, Guid document, string title)
    {
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{document}") { Content = JsonContent.Create(new { title }) };
        request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        using var response = await tenant.Admin.Client.SendAsync(request);
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_receiver_failing_half_the_time_gets_every_event_once_by_id_and_every_signature_verifies()
    {
        var tenant = await f.App.CreateTenantAsync();
        await using var receiver = await Receiver.StartAsync();
        var coin = new Random(15);
        receiver.Fail = () => { lock (coin) { return coin.Next(2) == 0; } };
        var (webhook, secret) = await RegisterAsync(tenant, receiver.Url, "document.created", "document.updated");

        var documents = new List<Guid>();
        for (var i = 0; i < 12; i++)
        {
            var id = await UploadAsync(tenant, $"Flaky {i}");
            await EditAsync(tenant, id, $"Flaky {i} (edited)");
            documents.Add(id);
        }

        var deliveries = await EventuallyAsync(() => DeliveriesAsync(tenant, webhook),
            ds => ds.Count == 24 && ds.All(d => d.GetProperty("status").GetString() == "delivered"), "all 24 deliveries delivered");

        var requests = receiver.Requests.ToList();
        requests.Count(r => r.Answered == 500).ShouldBeGreaterThan(0, "the receiver did fail some requests");
        var now = DateTimeOffset.UtcNow;
        requests.Where(r => !ReceiverVerification.Verifies(secret, r, now)).ShouldBeEmpty("every request's signature verifies");

        // Every event exactly once as seen by id: one 2xx answer per webhook-id, and retries carry the same id and body.
        var accepted = requests.Where(r => r.Answered == 200).GroupBy(r => r.Id).ToList();
        accepted.Where(g => g.Count() != 1).Select(g => g.Key).ShouldBeEmpty("no event accepted twice");
        accepted.Select(g => g.Key).Order().ShouldBe(deliveries.Select(d => d.GetProperty("eventId").GetGuid().ToString()).Order());
        requests.GroupBy(r => r.Id).Where(g => g.Select(r => r.Body).Distinct().Count() != 1).ShouldBeEmpty("a retry sends the same body");

        // Each document's events carry its id, and their sequence numbers follow commit order (created before updated).
        var bodies = accepted.Select(g => JsonDocument.Parse(g.Single().Body).RootElement).ToList();
        foreach (var document in documents)
        {
            var mine = bodies.Where(b => b.GetProperty("data").GetProperty("id").GetGuid() == document).ToList();
            mine.Select(b => b.GetProperty("type").GetString()).Order().ShouldBe(["document.created", "document.updated"]);
            mine.Single(b => b.GetProperty("type").GetString() == "document.created").GetProperty("sequence").GetInt64()
                .ShouldBeLessThan(mine.Single(b => b.GetProperty("type").GetString() == "document.updated").GetProperty("sequence").GetInt64());
        }
        bodies.Where(b => b.GetProperty("timestamp").GetDateTime() == default).ShouldBeEmpty();

        // The log has one row per attempt, with status code and latency.
        var retried = deliveries.First(d => d.GetProperty("attempts").GetInt32() > 1);
        var log = retried.GetProperty("log").EnumerateArray().ToList();
        log.Count.ShouldBe(retried.GetProperty("attempts").GetInt32());
        log[0].GetProperty("statusCode").GetInt32().ShouldBe(500);
        log[^1].GetProperty("statusCode").GetInt32().ShouldBe(200);
        log.ShouldAllBe(a => a.GetProperty("latencyMs").GetInt32() >= 0);
    }

    [Fact]
    public async Task A_receiver_down_for_good_trips_the_breaker_then_dead_letters_and_replay_delivers_while_another_endpoint_is_not_slowed()
    {
        var tenant = await f.App.CreateTenantAsync();
        var port = Receiver.FreePort();
        var downUrl = new Uri($"http://127.0.0.1:{port}/hook");
        var (down, secret) = await RegisterAsync(tenant, downUrl, "user.created");
        await using var healthy = await Receiver.StartAsync();
        var (fine, _) = await RegisterAsync(tenant, healthy.Url, "user.created");

        var started = DateTime.UtcNow;
        await tenant.CreateUserAsync("Member");

        // The healthy endpoint gets its event at once, while the other one is failing.
        await EventuallyAsync(() => DeliveriesAsync(tenant, fine), ds => ds.Count == 1 && ds[0].GetProperty("status").GetString() == "delivered", "the healthy delivery");
        (DateTime.UtcNow - started).ShouldBeLessThan(TimeSpan.FromSeconds(30));

        // Down for good: the breaker pauses the endpoint, the admins are told, and the delivery ends dead after 12 attempts.
        var dead = await EventuallyAsync(() => DeliveriesAsync(tenant, down), ds => ds.Count == 1 && ds[0].GetProperty("status").GetString() == "dead", "the dead delivery");
        dead[0].GetProperty("attempts").GetInt32().ShouldBe(12);
        dead[0].GetProperty("log").GetArrayLength().ShouldBe(12);
        dead[0].GetProperty("log")[0].GetProperty("error").GetString()!.ShouldContain("could not be reached");
        using (var get = await tenant.Admin.Client.GetAsync($"/api/v1/webhooks/{down}"))
        {
            (await get.JsonAsync()).GetProperty("state").GetString().ShouldBe("paused");
        }
        var notifications = await EventuallyAsync(async () =>
        {
            using var response = await tenant.Admin.Client.GetAsync("/api/v1/notifications");
            return (await response.JsonAsync()).GetProperty("items").EnumerateArray().ToList();
        }, ns => ns.Any(n => n.GetProperty("kind").GetString() == "webhook.paused"), "the paused notification");
        notifications.First(n => n.GetProperty("kind").GetString() == "webhook.paused").GetProperty("title").GetString()!.ShouldContain($"127.0.0.1:{port}");

        // Only a dead delivery can be replayed.
        using (var notDead = await tenant.Admin.Client.PostAsync($"/api/v1/webhooks/{fine}/deliveries/{(await DeliveriesAsync(tenant, fine))[0].GetProperty("id").GetGuid()}/replay", null))
        {
            await notDead.ShouldBeProblemAsync(HttpStatusCode.Conflict, "webhook.delivery_not_dead");
        }

        // The receiver comes back on the same address; replay delivers, and the successful probe resumes the endpoint.
        await using var back = await Receiver.StartAsync(port);
        using (var replay = await tenant.Admin.Client.PostAsync($"/api/v1/webhooks/{down}/deliveries/{dead[0].GetProperty("id").GetGuid()}/replay", null))
        {
            await replay.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
        }
        await EventuallyAsync(() => DeliveriesAsync(tenant, down), ds => ds[0].GetProperty("status").GetString() == "delivered", "the replayed delivery");
        var got = back.Requests.Where(r => r.Answered == 200).ToList();
        got.Count.ShouldBe(1);
        got[0].Id.ShouldBe(dead[0].GetProperty("eventId").GetGuid().ToString(), "a replay keeps the webhook-id");
        ReceiverVerification.Verifies(secret, got[0], DateTimeOffset.UtcNow).ShouldBeTrue();
        using (var get = await tenant.Admin.Client.GetAsync($"/api/v1/webhooks/{down}"))
        {
            (await get.JsonAsync()).GetProperty("state").GetString().ShouldBe("active");
        }
    }

    [Fact]
    public async Task A_paused_endpoint_keeps_its_deliveries_waiting_and_enabling_it_resumes_them()
    {
        var tenant = await f.App.CreateTenantAsync();
        await using var receiver = await Receiver.StartAsync();
        receiver.Fail = () => true;
        var (webhook, _) = await RegisterAsync(tenant, receiver.Url, "document.created");
        await UploadAsync(tenant, "One");
        await EventuallyAsync(async () =>
        {
            using var get = await tenant.Admin.Client.GetAsync($"/api/v1/webhooks/{webhook}");
            return (await get.JsonAsync()).GetProperty("state").GetString();
        }, s => s == "paused", "the breaker");
        receiver.Fail = () => false;
        using (var patch = await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/webhooks/{webhook}", new { enabled = true }))
        {
            await patch.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await patch.JsonAsync()).GetProperty("state").GetString().ShouldBe("active");
        }
        await EventuallyAsync(() => DeliveriesAsync(tenant, webhook), ds => ds.Single().GetProperty("status").GetString() == "delivered", "the resumed delivery");
    }

    [Fact]
    public async Task A_rotated_secret_signs_alongside_the_old_one_and_the_test_event_reaches_the_endpoint()
    {
        var tenant = await f.App.CreateTenantAsync();
        await using var receiver = await Receiver.StartAsync();
        var (webhook, oldSecret) = await RegisterAsync(tenant, receiver.Url, "document.deleted");

        string newSecret;
        using (var rotate = await tenant.Admin.Client.PostAsync($"/api/v1/webhooks/{webhook}/rotate-secret", null))
        {
            await rotate.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await rotate.JsonAsync();
            newSecret = body.GetProperty("secret").GetString()!;
            body.GetProperty("previousSecretValidUntil").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddHours(23));
        }
        newSecret.ShouldNotBe(oldSecret);
        using (var get = await tenant.Admin.Client.GetAsync($"/api/v1/webhooks/{webhook}"))
        {
            (await get.Content.ReadAsStringAsync()).ShouldNotContain("whsec_", customMessage: "a secret is shown once, never read back");
        }

        using (var test = await tenant.Admin.Client.PostAsync($"/api/v1/webhooks/{webhook}/test", null))
        {
            await test.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
        }
        var received = await EventuallyAsync(() => Task.FromResult(receiver.Requests.ToList()), rs => rs.Count == 1, "the test event");
        var r = received[0];
        JsonDocument.Parse(r.Body).RootElement.GetProperty("type").GetString().ShouldBe("webhook.test");
        r.Signature.Split(' ').Length.ShouldBe(2, "the new secret's signature and the old one's during the overlap");
        ReceiverVerification.Verifies(newSecret, r, DateTimeOffset.UtcNow).ShouldBeTrue();
        ReceiverVerification.Verifies(oldSecret, r, DateTimeOffset.UtcNow).ShouldBeTrue();
        ReceiverVerification.Verifies("whsec_" + Convert.ToBase64String(new byte[32]), r, DateTimeOffset.UtcNow).ShouldBeFalse();
    }

    [Fact]
    public async Task A_redirect_is_a_failed_attempt_and_is_not_followed()
    {
        var tenant = await f.App.CreateTenantAsync();
        await using var elsewhere = await Receiver.StartAsync();
        await using var receiver = await Receiver.StartAsync();
        receiver.RedirectTo = elsewhere.Url.ToString();
        var (webhook, _) = await RegisterAsync(tenant, receiver.Url, "document.created");
        await UploadAsync(tenant, "Redirected");
        var deliveries = await EventuallyAsync(() => DeliveriesAsync(tenant, webhook),
            ds => ds.Count == 1 && ds[0].GetProperty("log").GetArrayLength() >= 2, "two failed attempts");
        deliveries[0].GetProperty("log")[0].GetProperty("statusCode").GetInt32().ShouldBe(307);
        deliveries[0].GetProperty("log")[0].GetProperty("error").GetString()!.ShouldContain("redirects are not followed");
        elsewhere.Requests.ShouldBeEmpty();
        using var delete = await tenant.Admin.Client.DeleteAsync($"/api/v1/webhooks/{webhook}");
        await delete.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task The_admin_page_creates_shows_the_secret_once_tests_and_replays_in_plain_words()
    {
        var tenant = await f.App.CreateTenantAsync();
        await using var receiver = await Receiver.StartAsync();
        var ui = await tenant.SignInToUiAsync(tenant.Admin);
        var page = await ui.GetStringAsync("/admin/webhooks");
        page.ShouldContain("href=\"/admin/webhooks\"", Case.Sensitive, "the navigation links the page");

        static FormUrlEncodedContent Form(string page, params (string Key, string Value)[] fields) =>
            new(fields.Select(f => KeyValuePair.Create(f.Key, f.Value)).Append(KeyValuePair.Create("__RequestVerificationToken", UiForms.Token(page))));

        string created;
        using (var create = await ui.PostAsync("/admin/webhooks?handler=Create", Form(page,
            ("url", receiver.Url.ToString()), ("description", "Billing system"), ("events", "document.created"), ("events", "user.created"))))
        {
            create.StatusCode.ShouldBe(HttpStatusCode.OK, await create.Content.ReadAsStringAsync());
            created = await create.Content.ReadAsStringAsync();
        }
        created.ShouldContain("data-testid=\"new-secret\"");
        var secret = WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Match(created, "<code>(whsec_[^<]+)</code>").Groups[1].Value);
        secret.ShouldNotBeEmpty();
        created.ShouldContain("Receiving events");
        created.ShouldContain("Document created, User created");
        var id = (await (await tenant.Admin.Client.GetAsync("/api/v1/webhooks")).JsonAsync()).GetProperty("items")[0].GetProperty("id").GetGuid();

        var detail = await ui.GetStringAsync($"/admin/webhooks?id={id}");
        detail.ShouldNotContain("whsec_", customMessage: "the secret is shown once");
        using (var test = await ui.PostAsync($"/admin/webhooks?id={id}&handler=Test", Form(detail)))
        {
            test.StatusCode.ShouldBe(HttpStatusCode.Redirect, await test.Content.ReadAsStringAsync());
        }
        await EventuallyAsync(() => ui.GetStringAsync($"/admin/webhooks?id={id}"), html => html.Contains(">Delivered<"), "the delivered test event on the page");
        ReceiverVerification.Verifies(secret, receiver.Requests.Single(), DateTimeOffset.UtcNow).ShouldBeTrue("the secret the page showed signs the deliveries");

        // A receiver that keeps failing: the page says so in words and offers to send the dead delivery again.
        receiver.Fail = () => true;
        await tenant.CreateUserAsync("Viewer");
        var failed = await EventuallyAsync(() => ui.GetStringAsync($"/admin/webhooks?id={id}"), html => html.Contains("Failed every attempt"), "the dead delivery on the page");
        failed.ShouldContain("Paused after repeated failures");
        failed.ShouldContain("User created");
        failed.ShouldContain("answered 500");
        foreach (var raw in new[] { ">dead<", ">paused<", ">webhook.test<", ">user.created<", "Circuit", "Sending<" })
        {
            failed.ShouldNotContain(raw, customMessage: "no raw state or type names on screen");
        }
        var deliveryId = (await DeliveriesAsync(tenant, id)).First(d => d.GetProperty("status").GetString() == "dead").GetProperty("id").GetGuid();
        receiver.Fail = () => false;
        using (var replay = await ui.PostAsync($"/admin/webhooks?id={id}&handler=Replay", Form(failed, ("deliveryId", deliveryId.ToString()))))
        {
            replay.StatusCode.ShouldBe(HttpStatusCode.Redirect, await replay.Content.ReadAsStringAsync());
        }
        await EventuallyAsync(() => DeliveriesAsync(tenant, id), ds => ds.All(d => d.GetProperty("status").GetString() == "delivered"), "the replayed delivery");

        var member = await tenant.CreateUserAsync("Member");
        var memberUi = await tenant.SignInToUiAsync(member);
        using var denied = await memberUi.GetAsync("/admin/webhooks");
        denied.StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task Events_exist_only_for_changes_that_happened()
    {
        var tenant = await f.App.CreateTenantAsync();
        await using var receiver = await Receiver.StartAsync();
        var (webhook, _) = await RegisterAsync(tenant, receiver.Url, "document.updated", "user.disabled");
        using (var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text("x"), "Stale")))
        {
            var document = (await upload.JsonAsync()).GetProperty("id").GetGuid();
            using var stale = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{document}") { Content = JsonContent.Create(new { title = "Never" }) };
            stale.Headers.TryAddWithoutValidation("If-Match", "\"7\"");
            using var refused = await tenant.Admin.Client.SendAsync(stale);
            refused.StatusCode.ShouldBe(HttpStatusCode.PreconditionFailed);
            await EditAsync(tenant, document, "Once");
        }
        var user = await tenant.CreateUserAsync("Member");
        for (var i = 0; i < 2; i++)
        {
            using var disable = await tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/users/{user.UserId}", new { disabled = true });
            await disable.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        var deliveries = await EventuallyAsync(() => DeliveriesAsync(tenant, webhook),
            ds => ds.Count >= 2 && ds.All(d => d.GetProperty("status").GetString() == "delivered"), "the two deliveries");
        // A refused edit and disabling a user who is disabled already publish nothing.
        string.Join(",", deliveries.Select(d => d.GetProperty("eventType").GetString()).Order()).ShouldBe("document.updated,user.disabled");
        receiver.Requests.Count.ShouldBe(2);
    }

    [Fact]
    public async Task Only_admins_manage_webhooks_and_another_tenants_webhook_is_not_found()
    {
        var tenant = await f.App.CreateTenantAsync();
        var other = await f.App.CreateTenantAsync();
        await using var receiver = await Receiver.StartAsync();
        var (webhook, _) = await RegisterAsync(tenant, receiver.Url, "document.created");
        var member = await tenant.CreateUserAsync("Member");
        using (var denied = await member.Client.GetAsync("/api/v1/webhooks"))
        {
            denied.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }
        using (var missing = await other.Admin.Client.GetAsync($"/api/v1/webhooks/{webhook}"))
        {
            await missing.ShouldBeProblemAsync(HttpStatusCode.NotFound, "webhook.not_found");
        }
        using (var list = await other.Admin.Client.GetAsync("/api/v1/webhooks"))
        {
            (await list.JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);
        }
        // The other tenant's events never reach this tenant's endpoint.
        await UploadAsync(other, "Elsewhere");
        using (var unknown = await tenant.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url = receiver.Url.ToString(), events = new[] { "document.exploded" } }))
        {
            await unknown.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        await UploadAsync(tenant, "Here");
        await EventuallyAsync(() => DeliveriesAsync(tenant, webhook), ds => ds.Count == 1 && ds[0].GetProperty("status").GetString() == "delivered", "this tenant's one delivery");
        receiver.Requests.Count.ShouldBe(1);
        using (var delete = await tenant.Admin.Client.DeleteAsync($"/api/v1/webhooks/{webhook}"))
        {
            await delete.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        using (var audit = await tenant.Admin.Client.GetAsync("/api/v1/audit?action=webhook"))
        {
            var actions = (await audit.JsonAsync()).GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
            actions.ShouldContain("webhook.created");
            actions.ShouldContain("webhook.deleted");
        }
    }
}
