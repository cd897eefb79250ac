using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// GET /documents?q=: full-text search over title, tags and description (content: ContentSearchTests), web-search syntax,
/// ranking, snippets, prefixes, typos, totals and paging, always inside the caller's tenant and workspaces.
/// </summary>
public sealed class SearchTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => Tenant.Admin.Client;

    /// <summary>
    /// A word no other test uses (letters only, so the text search configuration keeps it whole): each hex digit of a new
    /// GUID becomes one of 16 letters, so even a 5-letter prefix is shared with another test's word about once in a million.
    /// </summary>
    private static string Word() => "w" + string.Concat(Guid.NewGuid().ToString("N").Take(12).Select(c => (char)('a' + Convert.ToInt32(c.ToString(), 16))));

    private static async Task<Guid> UploadAsync(HttpClient client, string title, string? description = null, string? tags = null, Guid? workspaceId = null,
        string fileName = "a.txt")
    {
        var content = fileName.EndsWith(".pdf", StringComparison.Ordinal) ? Uploads.Pdf() : Uploads.Text("body");
        using var response = await client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content, title, tags, workspaceId, description: description));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> SearchAsync(HttpClient client, string query)
    {
        using var response = await client.GetAsync($"/api/v1/documents?{query}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    private static async Task<List<Guid>> IdsAsync(HttpClient client, string q, string extra = "") =>
        (await SearchAsync(client, $"q={Uri.EscapeDataString(q)}{extra}")).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()).ToList();

    [Fact]
    public async Task A_word_in_the_title_the_description_or_a_tag_is_found_and_title_matches_rank_first()
    {
        var word = Word();
        var inDescription = await UploadAsync(Admin, "Plain notes", description: $"This memo is about {word} and more.");
        var inTag = await UploadAsync(Admin, "Other notes", tags: $"{word},misc");
        var inTitle = await UploadAsync(Admin, $"The {word} plan");

        var page = await SearchAsync(Admin, $"q={word}");
        var items = page.GetProperty("items").EnumerateArray().ToList();
        items.Select(d => d.GetProperty("id").GetGuid()).ShouldBe([inTitle, inTag, inDescription], "title first, then tags (weight B) over description (weight C)");
        items[0].GetProperty("match").GetProperty("inTitle").GetBoolean().ShouldBeTrue();
        items[2].GetProperty("match").GetProperty("inTitle").GetBoolean().ShouldBeFalse();
        items[2].GetProperty("match").GetProperty("snippet").GetString()!.ShouldStartWith($"This memo is about <mark>{word}</mark> and more");
        page.GetProperty("total").GetProperty("value").GetInt64().ShouldBe(3);
        page.GetProperty("total").GetProperty("exact").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task A_phrase_matches_the_phrase_only_and_or_and_minus_work_as_on_the_web()
    {
        var marker = Word();
        var other = Word();
        var phrase = await UploadAsync(Admin, $"{marker} one", description: "The quarterly report for the board.");
        var scattered = await UploadAsync(Admin, $"{marker} two", description: "A report, filed quarterly.");
        var third = await UploadAsync(Admin, $"{other} three");

        (await IdsAsync(Admin, $"\"quarterly report\" {marker}")).ShouldBe([phrase]);
        (await IdsAsync(Admin, $"quarterly report {marker}")).ShouldBe([scattered, phrase], ignoreOrder: true);
        (await IdsAsync(Admin, $"{marker} -\"quarterly report\"")).ShouldBe([scattered]);
        (await IdsAsync(Admin, $"{marker} or {other}")).ShouldBe([third, scattered, phrase], ignoreOrder: true);
    }

    [Fact]
    public async Task The_last_word_matches_as_a_prefix_while_typing_and_a_typo_still_finds_the_title()
    {
        var word = Word();
        var id = await UploadAsync(Admin, $"Procurement {word} guideline");

        (await IdsAsync(Admin, word[..6])).ShouldBe([id]);
        (await IdsAsync(Admin, $"procurement {word[..5]}")).ShouldBe([id]);

        // One letter wrong ('z' is never in a word): no word matches, so similar titles are offered, marked as such.
        var typo = $"{word[..5]}z{word[6..]}";
        var page = await SearchAsync(Admin, $"q=procurement {typo}");
        var hit = page.GetProperty("items").EnumerateArray().Single(d => d.GetProperty("id").GetGuid() == id);
        hit.GetProperty("match").GetProperty("similar").GetBoolean().ShouldBeTrue();
    }

    [Fact]
    public async Task Another_tenants_identical_document_is_never_returned()
    {
        var word = Word();
        var other = await Tenant.App.CreateTenantAsync();
        var mine = await UploadAsync(Admin, $"Contract {word}", description: word, tags: word);
        var theirs = await UploadAsync(other.Admin.Client, $"Contract {word}", description: word, tags: word);

        (await IdsAsync(Admin, word)).ShouldBe([mine]);
        (await IdsAsync(other.Admin.Client, word)).ShouldBe([theirs]);
        (await IdsAsync(Admin, $"Contract {word[..5]}")).ShouldBe([mine]);
        (await IdsAsync(Admin, $"Contrcat {word}")).ShouldNotContain(theirs);
    }

    [Fact]
    public async Task A_member_finds_only_what_their_workspaces_hold_and_filters_combine_with_search()
    {
        var word = Word();
        using var created = await Admin.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Search {word}" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var workspace = (await created.JsonAsync()).GetProperty("id").GetGuid();
        var hidden = await UploadAsync(Admin, $"Budget {word}", tags: "finance", workspaceId: workspace);
        var visible = await UploadAsync(Admin, $"Budget {word} public", tags: "finance");
        var untagged = await UploadAsync(Admin, $"Budget {word} draft", fileName: "draft.pdf");
        var member = await Tenant.CreateUserAsync("Member");

        (await IdsAsync(member.Client, word)).ShouldBe([untagged, visible], ignoreOrder: true);
        var memberPage = await SearchAsync(member.Client, $"q={word}");
        memberPage.GetProperty("total").GetProperty("value").GetInt64().ShouldBe(2, "a total never counts what the caller cannot read");

        using (var added = await Admin.PostAsJsonAsync($"/api/v1/workspaces/{workspace}/members", new { userId = member.UserId, role = "Viewer" }))
        {
            await added.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await IdsAsync(member.Client, word)).ShouldContain(hidden);

        (await IdsAsync(Admin, word, "&tag=finance")).ShouldBe([hidden, visible], ignoreOrder: true);
        (await IdsAsync(Admin, word, $"&workspaceId={workspace}")).ShouldBe([hidden]);
        (await IdsAsync(Admin, word, "&type=pdf")).ShouldBe([untagged]);
        (await IdsAsync(Admin, word, "&type=text&sort=title")).ShouldBe([hidden, visible]);
    }

    [Fact]
    public async Task Relevance_pages_follow_their_cursor_without_repeats_and_a_cursor_belongs_to_its_search()
    {
        var word = Word();
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await UploadAsync(Admin, $"Report {i}", description: $"{word} {string.Join(' ', Enumerable.Repeat(word, i))}"));
        }

        var seen = new List<Guid>();
        string? cursor = null;
        string? first = null;
        do
        {
            var page = await SearchAsync(Admin, $"q={word}&limit=2{(cursor is null ? "" : $"&cursor={cursor}")}");
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()));
            cursor = page.GetProperty("nextCursor").GetString();
            first ??= cursor;
        }
        while (cursor is not null && seen.Count < 10);
        seen.ShouldBe(Enumerable.Reverse(ids).ToList(), "more occurrences rank higher; every match once");

        using var other = await Admin.GetAsync($"/api/v1/documents?q=other&cursor={first}");
        await other.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.cursor_sort_mismatch");
        using var relevanceWithoutQuery = await Admin.GetAsync("/api/v1/documents?sort=relevance");
        await relevanceWithoutQuery.ShouldHaveStatusAsync(HttpStatusCode.BadRequest);
        using var forged = await Admin.GetAsync($"/api/v1/documents?q={word}&cursor=AgAAAAAAAAAA");
        await forged.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.cursor_sort_mismatch");
    }

    [Fact]
    public async Task A_tenant_language_adds_stemming_after_the_worker_reindexes_and_only_admins_change_it()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        var admin = tenant.Admin.Client;
        var id = await UploadAsync(admin, "Quarterly reports", description: "Invoices were approved");
        (await IdsAsync(admin, "report invoice")).ShouldBeEmpty("no stemming by default: words match as written");
        (await SearchAsync(admin, "q=x")).GetProperty("items").GetArrayLength().ShouldBe(0);

        using (var settings = await admin.GetAsync("/api/v1/admin/search-settings"))
        {
            (await settings.JsonAsync()).GetProperty("language").GetString().ShouldBe("any");
        }
        var member = await tenant.CreateUserAsync("Member");
        using (var denied = await member.Client.PutAsJsonAsync("/api/v1/admin/search-settings", new { language = "english" }))
        {
            await denied.ShouldHaveStatusAsync(HttpStatusCode.Forbidden);
        }
        using (var bad = await admin.PutAsJsonAsync("/api/v1/admin/search-settings", new { language = "klingon" }))
        {
            await bad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        using (var set = await admin.PutAsJsonAsync("/api/v1/admin/search-settings", new { language = "English" }))
        {
            await set.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await set.JsonAsync()).GetProperty("language").GetString().ShouldBe("english");
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(await IdsAsync(admin, "report invoice")).Contains(id) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        (await IdsAsync(admin, "report invoice")).ShouldBe([id], "the worker re-parsed the document in English");
        (await IdsAsync(Admin, "report invoice")).ShouldNotContain(id);
    }

    [Theory]
    [InlineData("\"unbalanced")]
    [InlineData("a & b | !c :* (d)")]
    [InlineData("-")]
    [InlineData("or")]
    [InlineData("%")]
    [InlineData("''")]
    [InlineData("\\")]
    [InlineData("<script>alert(1)</script>")]
    [InlineData("the")]
    public async Task Any_query_text_is_answered_without_an_error(string q)
    {
        var page = await SearchAsync(Admin, $"q={Uri.EscapeDataString(q)}");
        page.GetProperty("items").ValueKind.ShouldBe(JsonValueKind.Array);
    }
}
