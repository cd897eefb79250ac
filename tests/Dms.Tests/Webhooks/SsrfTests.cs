using System.Net;
using System.Net.Http.Json;
using Dms.Modules.Webhooks.Delivery;
using Dms.Modules.Webhooks.Domain;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Shouldly;
using Xunit;

namespace Dms.Tests.Webhooks;

/// <summary>
/// Webhook targets inside the network are refused: at registration (the shared test app keeps the default,
/// <c>Dms__Webhooks__AllowPrivateTargets=false</c>), and at connection time, where a name is resolved again.
/// </summary>
public sealed class SsrfTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://127.0.0.1:8080/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://10.1.2.3/hook")]
    [InlineData("https://192.168.0.10/hook")]
    [InlineData("http://0.0.0.0/hook")]
    [InlineData("http://[fd00::1]/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("http://2130706433/hook")]
    public async Task A_private_target_is_refused_at_registration(string url)
    {
        using var response = await fixture.Tenant.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url, events = new[] { "document.created" } });
        await response.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "webhook.target_not_allowed");
    }

    [Theory]
    [InlineData("ftp://example.com/hook")]
    [InlineData("file:///etc/passwd")]
    [InlineData("http://user:pw@example.com/hook")]
    [InlineData("/relative")]
    [InlineData("")]
    public async Task A_url_that_is_not_plain_http_is_refused(string url)
    {
        using var response = await fixture.Tenant.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url, events = new[] { "document.created" } });
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task Changing_an_endpoint_to_a_private_target_is_refused_too()
    {
        using var created = await fixture.Tenant.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://93.184.215.14/hook", events = new[] { "document.created" } });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var id = (await created.JsonAsync()).GetProperty("id").GetGuid();
        using var patch = await fixture.Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/webhooks/{id}", new { url = "http://169.254.169.254/" });
        await patch.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "webhook.target_not_allowed");
    }

    [Fact]
    public async Task The_connection_is_checked_again_and_a_loopback_receiver_is_not_reached_unless_allowed()
    {
        await using var receiver = await Receiver.StartAsync();
        using var guarded = new WebhookSender(Options.Create(new WebhookOptions { AllowPrivateTargets = false }));
        // "localhost" passes no literal check: only the address it resolves to at connect time says it is loopback.
        var url = new Uri($"http://localhost:{receiver.Port}/hook");
        var refused = await Should.ThrowAsync<HttpRequestException>(() => guarded.Client.PostAsync(url, new StringContent("{}")));
        refused.InnerException.ShouldBeOfType<BlockedTargetException>();
        receiver.Requests.ShouldBeEmpty();

        using var allowed = new WebhookSender(Options.Create(new WebhookOptions { AllowPrivateTargets = true }));
        using var response = await allowed.Client.PostAsync(url, new StringContent("{}"));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        receiver.Requests.Count.ShouldBe(1);
    }
}
