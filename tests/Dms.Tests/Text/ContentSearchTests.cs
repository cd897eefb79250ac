using System.Net.Http.Json;
using System.Text.Json;
using Shouldly;
using Xunit;

namespace Dms.Tests.Text;

/// <summary>
/// Search inside the files (issue 12): a word that occurs only in a PDF's text layer, only in a DOCX, only in a scanned
/// PNG (OCR) is found once the worker has read the file, with the word highlighted; title matches still rank first; an
/// identical file in another tenant is never returned.
/// </summary>
public sealed class ContentSearchTests(TextAppFixture fixture) : IClassFixture<TextAppFixture>
{
    private HttpClient Admin => fixture.Tenant.Admin.Client;

    private static async Task<List<JsonElement>> SearchAsync(HttpClient client, string q)
    {
        using var response = await client.GetAsync($"/api/v1/documents?q={Uri.EscapeDataString(q)}");
        response.EnsureSuccessStatusCode();
        return [.. (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").EnumerateArray()];
    }

    [Fact]
    public async Task Words_only_inside_a_PDF_a_DOCX_or_a_scan_are_found_and_highlighted()
    {
        var pdf = await TextApp.UploadAsync(Admin, "minutes.pdf", TextFiles.Pdf(["The okapivale committee met on Monday", "Budget approved"]));
        var docx = await TextApp.UploadAsync(Admin, "letter.docx", TextFiles.Docx("Dear tenant, the narwhalcove lease ends soon."));
        var png = await TextApp.UploadAsync(Admin, "scan.png", await TextFiles.RenderAsync(TextFiles.Pdf(["RECEIPT PELICAN HARBOUR 4711"]), "png", 200));
        foreach (var id in new[] { pdf, docx, png })
        {
            (await TextApp.WaitForTextAsync(Admin, id)).GetProperty("status").GetString().ShouldBe("Extracted");
        }

        var hit = (await SearchAsync(Admin, "okapivale")).ShouldHaveSingleItem();
        hit.GetProperty("id").GetGuid().ShouldBe(pdf);
        hit.GetProperty("match").GetProperty("snippet").GetString()!.ShouldContain("The <mark>okapivale</mark> committee met");
        (await SearchAsync(Admin, "narwhalcove lease")).ShouldHaveSingleItem().GetProperty("id").GetGuid().ShouldBe(docx);
        (await SearchAsync(Admin, "\"pelican harbour\"")).ShouldHaveSingleItem().GetProperty("id").GetGuid().ShouldBe(png);
        (await SearchAsync(Admin, "\"harbour pelican\"")).ShouldBeEmpty("a phrase matches in its order only");
    }

    [Fact]
    public async Task A_title_match_ranks_above_content_matches_and_another_tenants_file_stays_out()
    {
        var word = "quokkaridge";
        var inContent = await TextApp.UploadAsync(Admin, "notes.txt", System.Text.Encoding.UTF8.GetBytes($"These notes mention {word} twice: {word}."));
        using (var titled = await Admin.PostAsync("/api/v1/documents", Infrastructure.Uploads.Form("plain.txt", "nothing here"u8.ToArray(), $"The {word} plan")))
        {
            titled.EnsureSuccessStatusCode();
        }
        var other = await (await TextApp.GetAsync()).CreateTenantAsync();
        var theirs = await TextApp.UploadAsync(other.Admin.Client, "notes.txt", System.Text.Encoding.UTF8.GetBytes($"These notes mention {word} twice: {word}."));
        await TextApp.WaitForTextAsync(Admin, inContent);
        await TextApp.WaitForTextAsync(other.Admin.Client, theirs);

        var items = await SearchAsync(Admin, word);
        items.Count.ShouldBe(2);
        items[0].GetProperty("match").GetProperty("inTitle").GetBoolean().ShouldBeTrue();
        items[1].GetProperty("id").GetGuid().ShouldBe(inContent);
        items.ShouldNotContain(i => i.GetProperty("id").GetGuid() == theirs);
        (await SearchAsync(other.Admin.Client, word)).ShouldHaveSingleItem().GetProperty("id").GetGuid().ShouldBe(theirs);
    }
}
