using System.Net;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Views;

/// <summary>The "Save view" form on the documents list, the saved-views page and the home page, driven as a browser posts them.</summary>
public sealed partial class SavedViewPageTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task Saving_the_lists_filters_pins_a_view_whose_card_on_the_home_page_counts_and_opens_them()
    {
        var member = await f.Tenant.CreateUserAsync("Member");
        var tag = $"home-{Guid.NewGuid():N}"[..16];
        for (var i = 0; i < 2; i++)
        {
            using var upload = await member.Client.PostAsync("/api/v1/documents", Uploads.Form($"h{i}.txt", Uploads.Text($"home {i}"), $"Home doc {i}", tag));
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        using var ui = await f.Tenant.SignInToUiAsync(member);

        var empty = await ui.GetStringAsync("/");
        empty.ShouldContain("No pinned views yet.");
        empty.ShouldContain("Recent documents");
        empty.ShouldContain("Home doc 1");

        var list = await ui.GetStringAsync($"/documents?tag={tag}&sort=title");
        list.ShouldContain("Save view");
        list.ShouldContain("View name");
        var filters = HiddenFilters().Match(list).Groups[1].Value;
        using (var save = await ui.PostFormAsync("/views?handler=Save", list, new()
        {
            ["filters"] = System.Net.WebUtility.HtmlDecode(filters),
            ["viewName"] = "My home tag",
            ["pin"] = "true",
            ["columns"] = "title",
        }))
        {
            save.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            save.Headers.Location!.ToString().ShouldBe($"/documents?tag={tag}&sort=title");
        }
        var saved = WebUtility.HtmlDecode(await ui.GetStringAsync($"/documents?tag={tag}&sort=title"));
        saved.ShouldContain("View “My home tag” saved and pinned to your home page.");

        var home = await ui.GetStringAsync("/");
        home.ShouldContain("My home tag");
        home.ShouldContain("<strong>2</strong> documents");
        home.ShouldContain($"href=\"/documents?tag={tag}&amp;sort=title&amp;savedView=");

        // The same name again: refused, and the list says why.
        using (var again = await ui.PostFormAsync("/views?handler=Save", list, new() { ["filters"] = $"?tag={tag}", ["viewName"] = "my home TAG" }))
        {
            again.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        WebUtility.HtmlDecode(await ui.GetStringAsync($"/documents?tag={tag}")).ShouldContain("The view was not saved: You already have a view called “my home TAG”.");

        var views = await ui.GetStringAsync("/views");
        views.ShouldContain("My home tag");
        views.ShouldContain("Only you");
        views.ShouldContain("Unpin");
        var id = ViewId().Match(views).Groups[1].Value;
        using (var unpin = await ui.PostFormAsync("/views?handler=Pin", views, new() { ["id"] = id, ["pinned"] = "false" }))
        {
            unpin.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        (await ui.GetStringAsync("/")).ShouldContain("No pinned views yet.");
        using (var delete = await ui.PostFormAsync("/views?handler=Delete", views, new() { ["id"] = id }))
        {
            delete.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        (await ui.GetStringAsync("/views")).ShouldContain("No saved views yet.");
    }

    [Fact]
    public async Task The_home_page_asks_a_signed_out_visitor_to_sign_in()
    {
        using var anonymous = f.Tenant.App.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Accept.ParseAdd("text/html");
        using var response = await anonymous.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.ToString().ShouldContain("/login");
    }

    [GeneratedRegex("name=\"filters\" value=\"([^\"]*)\"")]
    private static partial Regex HiddenFilters();

    [GeneratedRegex("name=\"id\" value=\"([0-9a-f-]{36})\"")]
    private static partial Regex ViewId();
}
