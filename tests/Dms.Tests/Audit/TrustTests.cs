using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Shouldly;
using Xunit;

namespace Dms.Tests.Audit;

/// <summary>
/// What a new user has to be able to trust: the trail says "viewed" for a look and "downloaded" for a copy, its
/// filters find what was typed (literally), notifications say which document, the API reference reads like one.
/// </summary>
public sealed partial class TrustTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private async Task<List<JsonElement>> EventsAsync(string query)
    {
        using var response = await f.Admin.Client.GetAsync($"/api/v1/audit?limit=500&{query}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync()).GetProperty("items").EnumerateArray().ToList();
    }

    private static List<string?> Actions(IEnumerable<JsonElement> events) => events.Select(e => e.GetProperty("action").GetString()).ToList();

    [Fact]
    public async Task A_preview_is_one_view_however_many_range_requests_it_takes_and_a_download_stays_a_download()
    {
        var documentId = await f.UploadAsync(f.Member, new string('x', 5000), "long.txt");
        var ui = await SignInToUiAsync(f.Member);

        using (var whole = await ui.GetAsync($"/ui/documents/{documentId}/preview"))
        {
            whole.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        // A PDF viewer goes on with ranges past the start: the same view, not new ones.
        foreach (var range in new[] { "bytes=1000-1999", "bytes=2000-", "bytes=-500" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/ui/documents/{documentId}/preview");
            request.Headers.TryAddWithoutValidation("Range", range);
            using var part = await ui.SendAsync(request);
            part.StatusCode.ShouldBe(HttpStatusCode.PartialContent, range);
        }
        var afterViewing = Actions(await EventsAsync($"entityId={documentId}"));
        afterViewing.Count(a => a == "document.viewed").ShouldBe(1);
        afterViewing.ShouldNotContain("document.downloaded");

        // Opening the preview again is another view.
        using (var again = new HttpRequestMessage(HttpMethod.Get, $"/ui/documents/{documentId}/preview"))
        {
            again.Headers.TryAddWithoutValidation("Range", "bytes=0-999");
            (await ui.SendAsync(again)).StatusCode.ShouldBe(HttpStatusCode.PartialContent);
        }
        // Downloads, through the UI or the API, stay downloads.
        (await ui.GetAsync($"/ui/documents/{documentId}/content")).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var actions = Actions(await EventsAsync($"entityId={documentId}"));
        actions.Count(a => a == "document.viewed").ShouldBe(2);
        actions.Count(a => a == "document.downloaded").ShouldBe(2);
    }

    [Fact]
    public async Task The_action_filter_finds_any_part_of_the_name_in_any_case()
    {
        var documentId = await f.UploadAsync(f.Member);
        await f.RequestDeleteAsync(f.Member, documentId);

        var approvals = await EventsAsync("action=approval");
        approvals.ShouldNotBeEmpty();
        approvals.ShouldAllBe(e => e.GetProperty("action").GetString()!.StartsWith("approval.", StringComparison.Ordinal));
        Actions(await EventsAsync("action=APPROVAL.REQ")).ShouldContain("approval.requested");
        Actions(await EventsAsync("action=login")).ShouldContain("auth.login");
        // The old prefix form keeps working. Compared by id, not by count: the fixture's outbox may still be executing another
        // test's approval, whose event lands between the two reads (a CI run once counted 5, then 6).
        var prefixed = await EventsAsync("action=approval.");
        prefixed.ShouldAllBe(e => e.GetProperty("action").GetString()!.StartsWith("approval.", StringComparison.Ordinal));
        approvals.Select(e => e.GetProperty("id").GetGuid()).ShouldBeSubsetOf(prefixed.Select(e => e.GetProperty("id").GetGuid()), "the old prefix form keeps working");
        Actions(await EventsAsync("action=document.uploaded")).ShouldAllBe(a => a == "document.uploaded");
    }

    [Fact]
    public async Task Audit_filters_take_wildcards_and_backslashes_literally()
    {
        // Wildcards typed into the action filter match nothing: no action has a % or _ where they stand.
        (await EventsAsync("action=" + Uri.EscapeDataString("%."))).ShouldBeEmpty();
        (await EventsAsync("action=" + Uri.EscapeDataString("_uth."))).ShouldBeEmpty();
        (await EventsAsync("action=" + Uri.EscapeDataString("auth_login"))).ShouldBeEmpty();

        // A failed sign-in records what was typed as the actor: a backslash in it is found as a backslash.
        var typed = $"ev\\il{Guid.NewGuid():N}"[..14];
        using (var failed = await f.Tenant.App.CreateClient().PostAsJsonAsync("/api/v1/auth/login",
            new { tenant = f.Tenant.Slug, email = typed + "@x.test", password = "wrong-password-1" }))
        {
            failed.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        var found = await EventsAsync("actor=" + Uri.EscapeDataString(typed));
        found.ShouldHaveSingleItem().GetProperty("actorLabel").GetString().ShouldBe(typed + "@x.test");
        (await EventsAsync("actor=" + Uri.EscapeDataString(typed.Replace("\\", "", StringComparison.Ordinal)))).ShouldBeEmpty();
        (await EventsAsync("actor=" + Uri.EscapeDataString("%"))).ShouldBeEmpty();
    }

    [Fact]
    public async Task Notifications_name_the_document()
    {
        using var upload = await f.Member.Client.PostAsync("/api/v1/documents", Uploads.Form("q3.txt", Uploads.Text("figures"), "Q3 board report"));
        await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId, "Superseded")).GetProperty("id").GetGuid();

        var requested = (await f.NotificationsAsync(f.Admin, "approval.requested", approvalId)).ShouldHaveSingleItem();
        requested.GetProperty("title").GetString().ShouldBe("Delete requested for “Q3 board report”");
        requested.GetProperty("documentId").GetGuid().ShouldBe(documentId);

        await (await ApprovalFixture.ApproveAsync(f.SecondAdmin, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
        (await f.NotificationsAsync(f.Member, "approval.approved", approvalId)).ShouldHaveSingleItem()
            .GetProperty("title").GetString().ShouldBe("Your delete request for “Q3 board report” was approved");
        (await f.NotificationsAsync(f.Member, "approval.executed", approvalId)).ShouldHaveSingleItem()
            .GetProperty("title").GetString().ShouldBe("“Q3 board report” was deleted");
    }

    [Fact]
    public async Task The_api_reference_has_a_title_and_a_summary_for_every_operation()
    {
        using var doc = JsonDocument.Parse(await f.Tenant.App.CreateClient().GetStringAsync("/openapi/v1.json"));
        doc.RootElement.GetProperty("info").GetProperty("title").GetString().ShouldBe("DMS Enterprise API");
        var missing = (from path in doc.RootElement.GetProperty("paths").EnumerateObject()
                       from op in path.Value.EnumerateObject()
                       where op.Name != "parameters" && !(op.Value.TryGetProperty("summary", out var s) && s.GetString() is { Length: > 0 })
                       select $"{op.Name.ToUpperInvariant()} {path.Name}").ToList();
        missing.ShouldBeEmpty();
    }

    /// <summary>The web UI's cookie session for <paramref name="who"/>, signed in through the login form.</summary>
    private async Task<HttpClient> SignInToUiAsync(SignedIn who)
    {
        var client = f.Tenant.App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var form = await client.GetStringAsync("/login");
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Tenant"] = f.Tenant.Slug,
            ["Email"] = who.Email,
            ["Password"] = who.Password,
            ["__RequestVerificationToken"] = AntiforgeryField().Match(form) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : "",
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        return client;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
