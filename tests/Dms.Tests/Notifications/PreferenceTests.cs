using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Notifications;

/// <summary>
/// <c>GET/PUT /api/v1/me/notification-preferences</c> and the preferences page, on the shared app (which has no mail
/// server configured: preferences are kept and the page says mail is off).
/// </summary>
public sealed class PreferenceTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private static readonly string[] Kinds =
        ["approval.requested", "approval.reminder", "approval.decided", "approval.expired", "approval.executed", "approval.failed", "comment.mentioned", "document.checkout_broken", "webhook.paused"];

    [Fact]
    public async Task Every_kind_is_listed_with_both_channels_on_and_no_digest_by_default()
    {
        var user = await fixture.Tenant.CreateUserAsync("Member");
        var preferences = await MailSupport.PreferencesAsync(user);
        preferences.GetProperty("kinds").EnumerateArray().Select(k => k.GetProperty("kind").GetString()).ShouldBe(Kinds);
        preferences.GetProperty("kinds").EnumerateArray().ShouldAllBe(k => k.GetProperty("inApp").GetBoolean() && k.GetProperty("email").GetBoolean());
        preferences.GetProperty("digest").GetString().ShouldBe("none");
        preferences.GetProperty("emailConfigured").GetBoolean().ShouldBeFalse();
    }

    [Fact]
    public async Task A_put_changes_the_kinds_it_lists_and_the_digest_and_only_for_the_caller()
    {
        var user = await fixture.Tenant.CreateUserAsync("Member");
        var other = await fixture.Tenant.CreateUserAsync("Member");
        using var response = await user.Client.PutAsJsonAsync("/api/v1/me/notification-preferences", new
        {
            kinds = new[] { new { kind = "approval.decided", inApp = false, email = true }, new { kind = "approval.executed", inApp = true, email = false } },
            digest = "daily",
        });
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var answered = await response.JsonAsync();
        var stored = await MailSupport.PreferencesAsync(user);
        stored.ToString().ShouldBe(answered.ToString());
        Kind(stored, "approval.decided").ShouldBe((false, true));
        Kind(stored, "approval.executed").ShouldBe((true, false));
        Kind(stored, "approval.requested").ShouldBe((true, true));
        stored.GetProperty("digest").GetString().ShouldBe("daily");

        // A second PUT without a digest keeps it.
        await MailSupport.SetPreferenceAsync(user, "approval.decided", inApp: false, email: false);
        (await MailSupport.PreferencesAsync(user)).GetProperty("digest").GetString().ShouldBe("daily");

        var untouched = await MailSupport.PreferencesAsync(other);
        Kind(untouched, "approval.decided").ShouldBe((true, true));
        untouched.GetProperty("digest").GetString().ShouldBe("none");
    }

    [Theory]
    [InlineData("""{"kinds":[{"kind":"approval.decision","inApp":true,"email":true}]}""", 400, "notification.unknown_kind")]
    [InlineData("""{"kinds":[{"kind":"approval.approved","inApp":true,"email":true}]}""", 400, "notification.unknown_kind")]
    [InlineData("""{"kinds":[{"kind":"approval.decided","inApp":true}]}""", 400, "validation.failed")]
    [InlineData("""{"kinds":[{"kind":"approval.decided","inApp":true,"email":true},{"kind":"approval.decided","inApp":false,"email":true}]}""", 400, "validation.failed")]
    [InlineData("""{"digest":"weekly"}""", 400, "validation.failed")]
    [InlineData("""{"kinds":[null]}""", 400, "validation.failed")]
    [InlineData("""{"kinds":"all"}""", 400, null)]
    [InlineData("""[1,2]""", 400, null)]
    public async Task Bad_preferences_are_refused_with_a_code_and_change_nothing(string body, int status, string? code)
    {
        var user = await fixture.Tenant.CreateUserAsync("Member");
        var before = (await MailSupport.PreferencesAsync(user)).ToString();
        using var response = await user.Client.PutAsync("/api/v1/me/notification-preferences", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        ((int)response.StatusCode).ShouldBe(status, await response.Content.ReadAsStringAsync());
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        var problem = await response.JsonAsync();
        problem.GetProperty("code").GetString().ShouldNotBeNullOrEmpty();
        if (code is not null)
        {
            problem.GetProperty("code").GetString().ShouldBe(code);
        }
        (await MailSupport.PreferencesAsync(user)).ToString().ShouldBe(before);
    }

    [Fact]
    public async Task The_settings_page_saves_the_boxes_and_says_mail_is_not_configured()
    {
        var user = await fixture.Tenant.CreateUserAsync("Member");
        var ui = await fixture.Tenant.SignInToUiAsync(user);
        var page = await ui.GetStringAsync("/account/notifications");
        page.ShouldContain("data-testid=\"mail-not-configured\"");
        page.ShouldContain("Decision requested");
        var form = new Dictionary<string, string> { ["Digest"] = "daily" };
        using var content = new FormUrlEncodedContent(
        [
            new("InApp", "approval.requested"), new("Email", "approval.requested"), new("InApp", "approval.decided"), new("Digest", "daily"),
            new("__RequestVerificationToken", UiForms.Token(page)),
        ]);
        using var saved = await ui.PostAsync("/account/notifications", content);
        saved.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var stored = await MailSupport.PreferencesAsync(user);
        Kind(stored, "approval.requested").ShouldBe((true, true));
        Kind(stored, "approval.decided").ShouldBe((true, false));
        Kind(stored, "approval.executed").ShouldBe((false, false));
        stored.GetProperty("digest").GetString().ShouldBe("daily");
        (await ui.GetStringAsync("/documents")).ShouldContain("href=\"/account/notifications\"");
    }

    private static (bool InApp, bool Email) Kind(JsonElement preferences, string kind)
    {
        var entry = preferences.GetProperty("kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == kind);
        return (entry.GetProperty("inApp").GetBoolean(), entry.GetProperty("email").GetBoolean());
    }
}
