using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using static Dms.Tests.Organise.Organising;

namespace Dms.Tests.Organise;

/// <summary>The organising UI driven through its forms as a browser posts them: the admin settings page, comment counts in the list, the move page.</summary>
public sealed class OrganisePageTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    [Fact]
    public async Task Admins_turn_share_links_and_duplicate_refusal_on_and_off_on_the_settings_page()
    {
        using var admin = await f.Tenant.SignInToUiAsync(f.Admin);
        var page = await admin.GetStringAsync("/admin/settings");
        page.ShouldContain("Allow share links");
        page.ShouldContain("Longest a link may last (days)");
        page.ShouldContain("Refuse duplicate uploads");
        page.ShouldContain("href=\"/admin/settings\"", Case.Sensitive, "the admin menu leads here");

        using (var refuse = await admin.PostFormAsync("/admin/settings?handler=Duplicates", page, new() { ["refuse"] = "true" }))
        {
            refuse.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        (await (await f.Admin.Client.GetAsync("/api/v1/admin/duplicate-settings")).JsonAsync()).GetProperty("refuse").GetBoolean().ShouldBeTrue();
        (await admin.GetStringAsync("/admin/settings")).ShouldContain("Duplicate uploads are now refused.");
        using (var flag = await admin.PostFormAsync("/admin/settings?handler=Duplicates", page, []))
        {
            flag.StatusCode.ShouldBe(HttpStatusCode.Redirect, "an unticked box is off");
        }
        (await (await f.Admin.Client.GetAsync("/api/v1/admin/duplicate-settings")).JsonAsync()).GetProperty("refuse").GetBoolean().ShouldBeFalse();

        using (var off = await admin.PostFormAsync("/admin/settings?handler=Sharing", page, new() { ["maxDays"] = "12" }))
        {
            off.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        var sharing = await (await f.Admin.Client.GetAsync("/api/v1/admin/share-settings")).JsonAsync();
        sharing.GetProperty("enabled").GetBoolean().ShouldBeFalse();
        sharing.GetProperty("maxDays").GetInt32().ShouldBe(12);
        using (var bad = await admin.PostFormAsync("/admin/settings?handler=Sharing", page, new() { ["enabled"] = "true", ["maxDays"] = "99999" }))
        {
            bad.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await bad.Content.ReadAsStringAsync()).ShouldContain("maxDays must be between 1 and 3650.");
        }
        using (var on = await admin.PostFormAsync("/admin/settings?handler=Sharing", page, new() { ["enabled"] = "true", ["maxDays"] = "30" }))
        {
            on.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        (await (await f.Admin.Client.GetAsync("/api/v1/admin/share-settings")).JsonAsync()).GetProperty("enabled").GetBoolean().ShouldBeTrue();

        using var member = await f.Tenant.SignInToUiAsync(f.Member);
        using var denied = await member.GetAsync("/admin/settings");
        denied.StatusCode.ShouldNotBe(HttpStatusCode.OK, "members have no settings page");
    }

    [Fact]
    public async Task The_list_shows_comment_counts_and_the_move_page_moves_a_document()
    {
        var source = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var target = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var folder = await FolderAsync(f.Member, target, "Invoices");
        var documentId = (await UploadAsync(f.Member, source, "listed")).GetProperty("id").GetGuid();
        foreach (var text in new[] { "First.", "Second." })
        {
            using var posted = await f.Member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/comments", new { text });
            await posted.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        using var ui = await f.Tenant.SignInToUiAsync(f.Member);
        (await ui.GetStringAsync($"/documents?workspace={source}")).ShouldContain("2 comments");
        (await ui.GetStringAsync($"/documents?workspace={source}&view=grid")).ShouldContain("2 comments");

        using (var details = await ui.GetAsync($"/ui/documents/{documentId}"))
        {
            await details.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await details.JsonAsync()).GetProperty("id").GetGuid().ShouldBe(documentId, "the upload area names an existing copy from here");
        }
        (await ui.GetStringAsync($"/documents/{documentId}")).ShouldContain("Move to another folder or workspace");
        var page = await ui.GetStringAsync($"/documents/{documentId}/move");
        page.ShouldContain("Move to");
        page.ShouldContain("(top level)");
        page.ShouldContain(" / Invoices");
        var etag = System.Text.RegularExpressions.Regex.Match(page, "name=\"ETag\" value=\"([^\"]+)\"").Groups[1].Value;
        using (var moved = await ui.PostFormAsync($"/documents/{documentId}/move", page, new() { ["Target"] = $"{target}/{folder}", ["ETag"] = System.Net.WebUtility.HtmlDecode(etag) }))
        {
            moved.StatusCode.ShouldBe(HttpStatusCode.Redirect, await moved.Content.ReadAsStringAsync());
        }
        var document = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("workspaceId").GetGuid().ShouldBe(target);
        document.GetProperty("folderId").GetGuid().ShouldBe(folder);

        using (var stale = await ui.PostFormAsync($"/documents/{documentId}/move", page, new() { ["Target"] = source.ToString(), ["ETag"] = System.Net.WebUtility.HtmlDecode(etag) }))
        {
            stale.StatusCode.ShouldBe(HttpStatusCode.PreconditionFailed, "the page was read before the move");
        }
    }
}
