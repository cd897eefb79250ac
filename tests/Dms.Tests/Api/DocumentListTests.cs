using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>GET /documents: status and type filters, sorting, and keyset paging that stays exact in every sort.</summary>
public sealed class DocumentListTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => Tenant.Admin.Client;

    private static async Task<Guid> UploadAsync(HttpClient client, string fileName, byte[] content, string? title = null)
    {
        using var response = await client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content, title));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static byte[] Docx()
    {
        var bytes = new List<byte> { 0x50, 0x4B, 0x03, 0x04 };
        bytes.AddRange(new byte[26]);
        bytes.AddRange(Encoding.ASCII.GetBytes("[Content_Types].xml<Types/>"));
        return [.. bytes];
    }

    private static async Task<List<Guid>> AllPagesAsync(HttpClient client, string query, int limit)
    {
        var seen = new List<Guid>();
        string? cursor = null;
        var pages = 0;
        do
        {
            using var response = await client.GetAsync($"/api/v1/documents?{query}&limit={limit}{(cursor is null ? "" : $"&cursor={cursor}")}");
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var page = await response.JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()));
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 50);
        return seen;
    }

    [Fact]
    public async Task Type_and_status_filter_by_file_family_and_document_status()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        await tenant.CreateUserAsync("Admin"); // someone to approve the admin's delete request (four eyes by default)
        var client = tenant.Admin.Client;
        var pdf = await UploadAsync(client, "a.pdf", Uploads.Pdf());
        var png = await UploadAsync(client, "b.png", [.. Uploads.PngHeader, 1, 2, 3]);
        var txt = await UploadAsync(client, "c.txt", Uploads.Text("text"));
        var docx = await UploadAsync(client, "d.docx", Docx());
        using (var request = await client.PostAsJsonAsync($"/api/v1/documents/{txt}/delete-requests", new { reason = "old" }))
        {
            await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }

        (await AllPagesAsync(client, "type=pdf", 10)).ShouldBe([pdf]);
        (await AllPagesAsync(client, "type=image", 10)).ShouldBe([png]);
        (await AllPagesAsync(client, "type=TEXT", 10)).ShouldBe([txt]);
        (await AllPagesAsync(client, "type=office", 10)).ShouldBe([docx]);
        (await AllPagesAsync(client, "status=PendingDelete", 10)).ShouldBe([txt]);
        (await AllPagesAsync(client, "status=active", 10)).ShouldBe([docx, png, pdf]);
        (await AllPagesAsync(client, "status=PendingReplace", 10)).ShouldBeEmpty();
        (await AllPagesAsync(client, "status=Active&type=text", 10)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Every_sort_pages_without_gaps_or_repeats_in_both_directions()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        var client = tenant.Admin.Client;
        // Duplicate titles: the id must break ties, or a page boundary inside a tie would skip or repeat rows.
        var titles = new[] { "beta", "Alpha", "gamma", "beta", "delta", "alpha", "beta" };
        var ids = new List<Guid>();
        foreach (var title in titles)
        {
            ids.Add(await UploadAsync(client, "f.txt", Uploads.Text(title), title));
        }
        // Touch two documents so updatedAt differs from createdAt order.
        foreach (var id in new[] { ids[1], ids[4] })
        {
            using var get = await client.GetAsync($"/api/v1/documents/{id}");
            using var patch = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{id}") { Content = JsonContent.Create(new { description = "touched" }) };
            patch.Headers.IfMatch.Add(get.Headers.ETag!);
            using var patched = await client.SendAsync(patch);
            await patched.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        var full = (await (await client.GetAsync("/api/v1/documents?limit=100")).JsonAsync()).GetProperty("items").EnumerateArray()
            .Select(d => (Id: d.GetProperty("id").GetGuid(), Title: d.GetProperty("title").GetString()!,
                Created: d.GetProperty("createdAt").GetDateTime(), Updated: d.GetProperty("updatedAt").GetDateTime())).ToList();
        full.Count.ShouldBe(titles.Length);

        foreach (var (query, expected) in new (string, List<Guid>)[]
        {
            ("sort=createdAt", [.. ids.AsEnumerable().Reverse()]),
            ("sort=createdAt&order=asc", ids),
            ("sort=updatedAt", [.. full.OrderByDescending(d => d.Updated).ThenByDescending(d => d.Id, GuidComparer).Select(d => d.Id)]),
            ("sort=updatedAt&order=asc", [.. full.OrderBy(d => d.Updated).ThenBy(d => d.Id, GuidComparer).Select(d => d.Id)]),
        })
        {
            (await AllPagesAsync(client, query, 2)).ShouldBe(expected, query);
        }

        // Titles sort in the database's collation; whatever it is, every page size must yield the one-page order.
        foreach (var order in new[] { "asc", "desc" })
        {
            var onePage = await AllPagesAsync(client, $"sort=title&order={order}", 100);
            onePage.Count.ShouldBe(titles.Length);
            (await AllPagesAsync(client, $"sort=title&order={order}", 2)).ShouldBe(onePage, order);
            (await AllPagesAsync(client, $"sort=title&order={order}", 1)).ShouldBe(onePage, order);
            var orderedTitles = onePage.Select(id => full.Single(d => d.Id == id).Title.ToLowerInvariant()).ToList();
            orderedTitles.ShouldBe(order == "asc" ? [.. orderedTitles.Order(StringComparer.Ordinal)] : [.. orderedTitles.OrderDescending(StringComparer.Ordinal)]);
        }
        (await AllPagesAsync(client, "sort=title", 3)).ShouldBe(await AllPagesAsync(client, "sort=title&order=asc", 3));
    }

    // PostgreSQL orders uuids by their bytes in textual order.
    private static readonly IComparer<Guid> GuidComparer = Comparer<Guid>.Create((a, b) => string.CompareOrdinal(a.ToString(), b.ToString()));

    [Theory]
    [InlineData("status=Deleted", "status")]
    [InlineData("status=nope", "status")]
    [InlineData("type=exe", "type")]
    [InlineData("sort=size", "sort")]
    [InlineData("order=sideways", "order")]
    public async Task Invalid_filter_and_sort_values_are_400_with_the_field(string query, string field)
    {
        using var response = await Admin.GetAsync($"/api/v1/documents?{query}");
        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task A_cursor_from_one_sort_is_refused_by_another()
    {
        for (var i = 0; i < 3; i++)
        {
            await UploadAsync(Admin, $"m{i}.txt", Uploads.Text($"m{i}"));
        }
        var byTitle = (await (await Admin.GetAsync("/api/v1/documents?sort=title&limit=1")).JsonAsync()).GetProperty("nextCursor").GetString();
        var byCreated = (await (await Admin.GetAsync("/api/v1/documents?limit=1")).JsonAsync()).GetProperty("nextCursor").GetString();
        byTitle.ShouldNotBeNull();
        byCreated.ShouldNotBeNull();

        using var a = await Admin.GetAsync($"/api/v1/documents?cursor={byTitle}");
        await a.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.cursor_sort_mismatch");
        using var b = await Admin.GetAsync($"/api/v1/documents?sort=updatedAt&cursor={byCreated}");
        await b.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.cursor_sort_mismatch");
        using var c = await Admin.GetAsync($"/api/v1/documents?sort=title&order=desc&cursor={byTitle}");
        await c.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.cursor_sort_mismatch");
        using var d = await Admin.GetAsync($"/api/v1/documents?sort=title&cursor={byTitle}");
        await d.ShouldHaveStatusAsync(HttpStatusCode.OK);
        using var garbage = await Admin.GetAsync("/api/v1/documents?sort=title&cursor=AQIA_____________________w");
        await garbage.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_cursor");
    }
}
