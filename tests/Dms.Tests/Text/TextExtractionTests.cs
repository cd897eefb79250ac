using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Shouldly;
using Xunit;

namespace Dms.Tests.Text;

/// <summary>
/// One app of its own for text extraction (its background lane is busy for seconds at a time), with small limits so the
/// hostile files hit them quickly: two OCR pages, 4 MiB uploads (room for the zip bomb and the 10,000-page PDF).
/// </summary>
internal static class TextApp
{
    private static readonly Lazy<Task<DmsApp>> App = new(() => DmsApp.CreateIsolatedAsync("text", new Dictionary<string, string>
    {
        ["Dms:Uploads:MaxBytes"] = (4 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Dms:Extraction:MaxOcrPages"] = "2",
        // The previews have an app of their own (tests/Dms.Tests/Previews).
        ["Dms:Previews:Enabled"] = "false",
    }));

    public static Task<DmsApp> GetAsync() => App.Value;

    public static async Task<Guid> UploadAsync(HttpClient client, string fileName, byte[] content)
    {
        using var response = await client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    /// <summary>The text state once the worker has read the version (not Pending any more).</summary>
    public static async Task<JsonElement> WaitForTextAsync(HttpClient client, Guid id, int seconds = 120)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(seconds);
        while (true)
        {
            using var response = await client.GetAsync($"/api/v1/documents/{id}/text");
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var text = await response.JsonAsync();
            if (text.GetProperty("status").GetString() != "Pending")
            {
                return text;
            }
            if (DateTimeOffset.UtcNow > deadline)
            {
                throw new ShouldAssertException($"The text of {id} is still Pending after {seconds} s.");
            }
            await Task.Delay(200);
        }
    }

    public static async Task<string> ContentAsync(HttpClient client, Guid id)
    {
        using var response = await client.GetAsync($"/api/v1/documents/{id}/text/content");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        return await response.Content.ReadAsStringAsync();
    }
}

public sealed class TextAppFixture : IAsyncLifetime
{
    internal TestTenant Tenant { get; private set; } = null!;

    public async Task InitializeAsync() => Tenant = await (await TextApp.GetAsync()).CreateTenantAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}

public sealed partial class TextExtractionTests(TextAppFixture fixture) : IClassFixture<TextAppFixture>
{
    private HttpClient Admin => fixture.Tenant.Admin.Client;

    private async Task<(JsonElement Text, string Content, Guid Id)> ExtractAsync(string fileName, byte[] bytes)
    {
        var id = await TextApp.UploadAsync(Admin, fileName, bytes);
        var text = await TextApp.WaitForTextAsync(Admin, id);
        return (text, await TextApp.ContentAsync(Admin, id), id);
    }

    [Fact]
    public async Task A_PDF_text_layer_is_read_with_pdftotext()
    {
        var (text, content, _) = await ExtractAsync("minutes.pdf", TextFiles.Pdf(["Minutes of the pangolin committee", "Budget approved"]));
        text.GetProperty("status").GetString().ShouldBe("Extracted", text.ToString());
        text.GetProperty("method").GetString().ShouldBe("TextLayer");
        text.GetProperty("version").GetInt32().ShouldBe(1);
        text.GetProperty("truncated").GetBoolean().ShouldBeFalse();
        text.GetProperty("extractedAt").ValueKind.ShouldBe(JsonValueKind.String);
        content.ShouldContain("Minutes of the pangolin committee");
        content.ShouldContain("Budget approved");
        text.GetProperty("characters").GetInt32().ShouldBe(content.Length);
    }

    [Fact]
    public async Task A_scanned_PNG_is_read_by_OCR()
    {
        var png = await TextFiles.RenderAsync(TextFiles.Pdf(["INVOICE WOMBAT HARBOUR 4711"]), "png", 200);
        var (text, content, _) = await ExtractAsync("scan.png", png);
        text.GetProperty("status").GetString().ShouldBe("Extracted", text.ToString());
        text.GetProperty("method").GetString().ShouldBe("Ocr");
        content.ShouldContain("WOMBAT HARBOUR");
    }

    [Fact]
    public async Task A_PDF_without_a_text_layer_is_read_by_OCR()
    {
        var (width, height, pixels) = TextFiles.ParsePgm(await TextFiles.RenderAsync(TextFiles.Pdf(["SCANNED KOALAMERIDIAN REPORT"]), "pgm", 150));
        var (text, content, _) = await ExtractAsync("scanned.pdf", TextFiles.ScannedPdf(width, height, pixels));
        text.GetProperty("status").GetString().ShouldBe("Extracted", text.ToString());
        text.GetProperty("method").GetString().ShouldBe("Ocr");
        content.ShouldContain("KOALAMERIDIAN");
    }

    public static TheoryData<string, string> OfficeFiles => new()
    {
        { "letter.docx", "Dear aardvarkian reader" },
        { "budget.xlsx", "Capybaraledger" },
        { "slides.pptx", "Narwhalpitch roadmap" },
        { "notes.odt", "Okapinotes for Tuesday" },
        { "sheet.ods", "Tapirtotals" },
    };

    [Theory]
    [MemberData(nameof(OfficeFiles))]
    public async Task Office_files_are_read_in_a_child_process(string fileName, string words)
    {
        var bytes = Path.GetExtension(fileName) switch
        {
            ".docx" => TextFiles.Docx("Title line", words),
            ".xlsx" => TextFiles.Xlsx(words, "inline cell", 1234.5),
            ".pptx" => TextFiles.Pptx(words),
            ".odt" => TextFiles.Odt(words),
            _ => TextFiles.Ods(words),
        };
        var (text, content, _) = await ExtractAsync(fileName, bytes);
        text.GetProperty("status").GetString().ShouldBe("Extracted", text.ToString());
        text.GetProperty("method").GetString().ShouldBe("Office");
        content.ShouldContain(words);
        if (fileName.EndsWith(".xlsx", StringComparison.Ordinal))
        {
            content.ShouldContain($"{words}\tinline cell\t1234.5");
        }
        if (fileName.EndsWith(".odt", StringComparison.Ordinal))
        {
            content.ShouldBe($"Heading\n{words}  end\n");
        }
    }

    [Fact]
    public async Task CSV_and_Markdown_are_read_as_they_are_without_control_or_marker_characters()
    {
        var (csv, csvContent, _) = await ExtractAsync("rates.csv", Encoding.UTF8.GetBytes("name;rate\r\nquetzal\u0001\uE000x\uE001;3\r\n"));
        csv.GetProperty("status").GetString().ShouldBe("Extracted");
        csv.GetProperty("method").GetString().ShouldBe("Plain");
        csvContent.ShouldBe("name;rate\nquetzalx;3\n");

        var (md, mdContent, _) = await ExtractAsync("readme.md", Encoding.UTF8.GetBytes("# Lemurguide\n\n* tab\there\n"));
        md.GetProperty("method").GetString().ShouldBe("Plain");
        mdContent.ShouldBe("# Lemurguide\n\n* tab\there\n");

        var (blank, _, _) = await ExtractAsync("blank.txt", Encoding.UTF8.GetBytes("  \n\t\n"));
        blank.GetProperty("status").GetString().ShouldBe("Empty");
    }

    [Fact]
    public async Task Hostile_files_are_stopped_by_the_limits_say_why_and_stay_downloadable()
    {
        var bomb = await TextApp.UploadAsync(Admin, "bomb.docx", TextFiles.ZipBombDocx(300L * 1024 * 1024));
        var corrupt = await TextApp.UploadAsync(Admin, "broken.png", [.. Uploads.PngHeader, .. Enumerable.Repeat((byte)0x5A, 4000)]);
        var manyPages = await TextApp.UploadAsync(Admin, "many.pdf", TextFiles.Pdf(lines: null, pages: 10_000));
        var afterwards = await TextApp.UploadAsync(Admin, "after.txt", Encoding.UTF8.GetBytes("still working"));

        var bombText = await TextApp.WaitForTextAsync(Admin, bomb);
        bombText.GetProperty("status").GetString().ShouldBe("Failed", bombText.ToString());
        bombText.GetProperty("reason").GetString().ShouldBe("The file was not read: it unpacks to more than 256 MB (a possible zip bomb).");

        var corruptText = await TextApp.WaitForTextAsync(Admin, corrupt);
        corruptText.GetProperty("status").GetString().ShouldBe("Failed", corruptText.ToString());
        corruptText.GetProperty("reason").GetString()!.ShouldStartWith("The image could not be read: tesseract failed");

        var pagesText = await TextApp.WaitForTextAsync(Admin, manyPages);
        pagesText.GetProperty("status").GetString().ShouldBe("Empty", pagesText.ToString());
        pagesText.GetProperty("method").GetString().ShouldBe("Ocr");
        pagesText.GetProperty("truncated").GetBoolean().ShouldBeTrue();
        pagesText.GetProperty("reason").GetString().ShouldBe("Only the first 2 of 10000 pages were read by OCR (the limit is 2).");

        (await TextApp.WaitForTextAsync(Admin, afterwards)).GetProperty("status").GetString().ShouldBe("Extracted");
        foreach (var id in new[] { bomb, corrupt, manyPages })
        {
            using var download = await Admin.GetAsync($"/api/v1/documents/{id}/content?redirect=false");
            await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task Text_is_authorised_like_the_document_and_bad_versions_are_refused()
    {
        var id = await TextApp.UploadAsync(Admin, "private.txt", Encoding.UTF8.GetBytes("secret ocelot"));
        await TextApp.WaitForTextAsync(Admin, id);

        using (var zero = await Admin.GetAsync($"/api/v1/documents/{id}/text?version=0"))
        {
            await zero.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        using (var missing = await Admin.GetAsync($"/api/v1/documents/{id}/text?version=7"))
        {
            await missing.ShouldBeProblemAsync(HttpStatusCode.NotFound, "version.not_found");
        }
        using (var unknown = await Admin.GetAsync($"/api/v1/documents/{Guid.NewGuid()}/text/content"))
        {
            await unknown.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        }
        var other = await (await TextApp.GetAsync()).CreateTenantAsync();
        using (var foreign = await other.Admin.Client.GetAsync($"/api/v1/documents/{id}/text/content"))
        {
            await foreign.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        }
        using (var anonymous = await (await TextApp.GetAsync()).CreateClient().GetAsync($"/api/v1/documents/{id}/text"))
        {
            anonymous.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        (await TextApp.ContentAsync(Admin, id)).ShouldBe("secret ocelot");
    }

    [Fact]
    public async Task The_document_page_says_how_the_text_was_read()
    {
        var id = await TextApp.UploadAsync(Admin, "page.pdf", TextFiles.Pdf(["A page about the gecko archive"]));
        await TextApp.WaitForTextAsync(Admin, id);
        var app = await TextApp.GetAsync();
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var form = await client.GetStringAsync("/login");
        using (var login = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Tenant"] = fixture.Tenant.Slug,
            ["Email"] = fixture.Tenant.Admin.Email,
            ["Password"] = fixture.Tenant.Admin.Password,
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(AntiforgeryField().Match(form).Groups[1].Value),
        })))
        {
            login.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        var html = WebUtility.HtmlDecode(await client.GetStringAsync($"/documents/{id}"));
        html.ShouldContain("Text read from the PDF’s text layer (");
        html.ShouldContain($"href=\"/ui/documents/{id}/text\"");
        html.ShouldNotContain("TextLayer");
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}

public sealed class TextBurstTests(TextAppFixture fixture) : IClassFixture<TextAppFixture>
{
    [Fact]
    public async Task A_burst_of_500_uploads_drains_and_every_version_gets_its_text()
    {
        var admin = fixture.Tenant.Admin.Client;
        var ids = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 500), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
            ids.Add(await TextApp.UploadAsync(admin, $"burst-{i}.txt", Encoding.UTF8.GetBytes($"burst document number {i} mentions zebu{i}"))));

        // Polled one by one: the first waits for the backlog, the rest then answer at once.
        foreach (var id in ids)
        {
            var text = await TextApp.WaitForTextAsync(admin, id, seconds: 180);
            text.GetProperty("status").GetString().ShouldBe("Extracted", text.ToString());
        }
        var sample = ids.First();
        (await TextApp.ContentAsync(admin, sample)).ShouldStartWith("burst document number");

        // And every one is searchable by what only its text says.
        using (var all = await admin.GetAsync("/api/v1/documents?q=burst%20mentions&limit=1"))
        {
            var total = (await all.JsonAsync()).GetProperty("total");
            total.GetProperty("value").GetInt64().ShouldBe(500);
            total.GetProperty("exact").GetBoolean().ShouldBeTrue();
        }
        foreach (var i in new[] { 0, 1, 99, 250, 498, 499 })
        {
            // Quoted: a bare last word is also a prefix while typing (zebu1 would find zebu10…zebu199 too).
            using var one = await admin.GetAsync($"/api/v1/documents?q=%22zebu{i}%22");
            var items = (await one.JsonAsync()).GetProperty("items").EnumerateArray().ToList();
            items.Count.ShouldBe(1, $"zebu{i}");
            items[0].GetProperty("match").GetProperty("snippet").GetString()!.ShouldContain($"<mark>zebu{i}</mark>");
        }
    }
}
