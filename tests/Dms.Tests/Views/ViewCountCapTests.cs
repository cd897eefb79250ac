using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Views;
using Dms.Platform.Security;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Views;

/// <summary>An app of its own whose counts stop at 3 (<c>Dms:Views:CountCap</c>), so the cap is reached with a handful of uploads.</summary>
public sealed class CountCapFixture : IAsyncLifetime
{
    public const int Cap = 3;

    internal DmsApp App { get; private set; } = null!;
    internal TestTenant Tenant { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        App = await DmsApp.CreateIsolatedAsync($"viewcap_{Guid.NewGuid():N}"[..20], new Dictionary<string, string> { ["Dms:Views:CountCap"] = $"{Cap}" });
        Tenant = await App.CreateTenantAsync();
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>Counts stop at the cap and say so (<c>countCapped</c>); below it they are exact, whichever way they are counted.</summary>
public sealed class ViewCountCapTests(CountCapFixture f) : IClassFixture<CountCapFixture>
{
    private async Task<string> UploadTaggedAsync(int n, string title)
    {
        var tag = $"cap-{Guid.NewGuid():N}"[..16];
        for (var i = 0; i < n; i++)
        {
            using var upload = await f.Tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"{i}.txt", Uploads.Text($"cap {i}"), $"{title} {i}", tag));
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        return tag;
    }

    private async Task<JsonElement> CountAsync(object query)
    {
        var view = await SavedViewTests.CreateAsync(f.Tenant.Admin, new { name = $"v-{Guid.NewGuid():N}"[..20], query, pinned = true });
        using var response = await f.Tenant.Admin.Client.GetAsync($"/api/v1/views/{view.GetProperty("id").GetGuid()}/count");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    [Fact]
    public async Task A_count_stops_at_the_cap_and_says_so_and_is_exact_below_it()
    {
        var many = await UploadTaggedAsync(CountCapFixture.Cap + 2, "overflow");
        var few = await UploadTaggedAsync(CountCapFixture.Cap, "exactly");

        var capped = await CountAsync(new { tag = many });
        capped.GetProperty("count").GetInt64().ShouldBe(CountCapFixture.Cap);
        capped.GetProperty("countCapped").GetBoolean().ShouldBeTrue();
        var exact = await CountAsync(new { tag = few });
        exact.GetProperty("count").GetInt64().ShouldBe(CountCapFixture.Cap);
        exact.GetProperty("countCapped").GetBoolean().ShouldBeFalse("exactly the cap is not more than it");

        // A search view is capped the same way.
        var search = await CountAsync(new { q = "overflow", tag = many });
        search.GetProperty("count").GetInt64().ShouldBe(CountCapFixture.Cap);
        search.GetProperty("countCapped").GetBoolean().ShouldBeTrue();

        // The home page shows the same capped figures.
        using var home = await f.Tenant.Admin.Client.GetAsync("/api/v1/home");
        var pinned = (await home.JsonAsync()).GetProperty("pinned").EnumerateArray().ToList();
        pinned.Count(v => v.GetProperty("countCapped").GetBoolean()).ShouldBe(2);
    }

    [Fact]
    public async Task Counting_through_the_lists_pages_agrees_with_the_count_query_for_a_member()
    {
        var member = await f.Tenant.CreateUserAsync("Member");
        var tag = await UploadTaggedAsync(2, "paged");
        // The member reads the default workspace (where these went): both are theirs to count; an admin's other workspace is not.
        using (var ws = await f.Tenant.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Other {Guid.NewGuid():N}" }))
        {
            var hidden = (await ws.JsonAsync()).GetProperty("id").GetGuid();
            using var upload = await f.Tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("h.txt", Uploads.Text("h"), "paged hidden", tag, hidden));
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        var counter = f.App.Service<ViewCounter>();
        var me = new CurrentUser(member.UserId, f.Tenant.Id, Roles.Member, member.Email);
        var admin = new CurrentUser(f.Tenant.Admin.UserId == Guid.Empty ? await AdminIdAsync() : f.Tenant.Admin.UserId, f.Tenant.Id, Roles.Admin, f.Tenant.Admin.Email);
        var query = new ListDocuments(Tag: tag);
        (await counter.CountAsync(query, me, CancellationToken.None)).ShouldBe(new CappedCount(2, false));
        (await counter.CountByPagingAsync(query, me, CountCapFixture.Cap, CancellationToken.None)).ShouldBe(new CappedCount(2, false));
        (await counter.CountAsync(query, admin, CancellationToken.None)).ShouldBe(new CappedCount(3, false));
        (await counter.CountByPagingAsync(query, admin, CountCapFixture.Cap, CancellationToken.None)).ShouldBe(new CappedCount(3, false));
        (await counter.CountByPagingAsync(query, admin, 2, CancellationToken.None)).ShouldBe(new CappedCount(2, true));
    }

    private async Task<Guid> AdminIdAsync()
    {
        using var me = await f.Tenant.Admin.Client.GetAsync("/api/v1/me");
        return (await me.JsonAsync()).GetProperty("id").GetGuid();
    }
}
