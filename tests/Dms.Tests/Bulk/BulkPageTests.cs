using System.Net;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Bulk;

/// <summary>The bulk UI: the bar and row checkboxes on the documents list, starting a job with "Select all matching", the job page in words.</summary>
public sealed class BulkPageTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task The_list_offers_the_bulk_bar_and_a_job_started_there_shows_its_results_in_words()
    {
        var t = f.Tenant;
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 3, "Ui bulk", i => i == 0 ? ["uibulk", "fromui"] : ["uibulk"]);
        var ui = await t.SignInToUiAsync(t.Admin);

        var list = await ui.GetStringAsync("/documents?tag=uibulk");
        list.ShouldContain("Bulk actions");
        list.ShouldContain("Select all matching");
        foreach (var label in new[] { "Add tags", "Remove tags", "Request delete", "Download as ZIP" })
        {
            list.ShouldContain($">{label}</button>");
        }
        list.ShouldContain($"name=\"ids\" value=\"{ids[1]}\" aria-label=\"Select Ui bulk 00001\"");
        list.ShouldContain("name=\"filter.tag\" value=\"uibulk\"");

        using (var none = await ui.PostFormAsync("/bulk-jobs", list, new() { ["action"] = "addTags", ["tags"] = "fromui" }))
        {
            none.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await none.Content.ReadAsStringAsync()).ShouldContain("Tick at least one document");
        }
        using var started = await ui.PostFormAsync("/bulk-jobs", list, new() { ["action"] = "addTags", ["tags"] = "fromui", ["all"] = "true", ["filter.tag"] = "uibulk" });
        started.StatusCode.ShouldBe(HttpStatusCode.Redirect, await started.Content.ReadAsStringAsync());
        var page = started.Headers.Location!.ToString();
        page.ShouldStartWith("/bulk-jobs/");

        var until = DateTime.UtcNow.AddMinutes(5);
        string html;
        while (!(html = await ui.GetStringAsync(page)).Contains("Finished", StringComparison.Ordinal))
        {
            html.ShouldContain("hx-trigger=\"every 1s\"", customMessage: "the page polls while the job runs");
            DateTime.UtcNow.ShouldBeLessThan(until);
            await Task.Delay(200);
        }
        html.ShouldContain("3 of 3 handled: 2 done, 1 skipped, 0 failed");
        html.ShouldContain("Skipped: already tagged");
        html.ShouldContain(">Done</td>");
        html.ShouldNotContain("hx-trigger");
        html.ShouldNotContain("addTags");

        (await ui.GetStringAsync("/bulk-jobs")).ShouldContain("Add tags");
    }
}
