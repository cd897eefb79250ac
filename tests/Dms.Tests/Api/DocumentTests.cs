using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

public sealed class DocumentTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => fixture.Tenant;
    private HttpClient Admin => Tenant.Admin.Client;

    private static async Task<JsonElement> UploadAsync(HttpClient client, string fileName, byte[] content, string? title = null, string? tags = null,
        Guid? workspaceId = null, Guid? folderId = null)
    {
        using var response = await client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content, title, tags, workspaceId, folderId));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    [Fact]
    public async Task Upload_returns_201_with_location_etag_and_the_stored_version()
    {
        var content = Uploads.Pdf(10_000);
        using var response = await Admin.PostAsync("/api/v1/documents", Uploads.Form("Report Q3.pdf", content, "Q3 report", "Finance, q3", description: "Quarterly"));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var doc = await response.JsonAsync();
        var id = doc.GetProperty("id").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/documents/{id}");
        response.Headers.ETag!.Tag.ShouldBe("\"1\"");
        doc.GetProperty("title").GetString().ShouldBe("Q3 report");
        doc.GetProperty("description").GetString().ShouldBe("Quarterly");
        doc.GetProperty("status").GetString().ShouldBe("Active");
        doc.GetProperty("workspaceId").GetGuid().ShouldBe(Tenant.DefaultWorkspaceId);
        doc.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ShouldBe(["finance", "q3"]);
        var version = doc.GetProperty("currentVersion");
        version.GetProperty("number").GetInt32().ShouldBe(1);
        version.GetProperty("size").GetInt64().ShouldBe(content.Length);
        version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant());
        version.GetProperty("contentType").GetString().ShouldBe("application/pdf");
        version.GetProperty("fileName").GetString().ShouldBe("Report Q3.pdf");

        var fetched = await Admin.GetAsync($"/api/v1/documents/{id}");
        await fetched.ShouldHaveStatusAsync(HttpStatusCode.OK);
        fetched.Headers.ETag!.Tag.ShouldBe("\"1\"");
    }

    [Fact]
    public async Task Title_defaults_to_the_file_name()
    {
        var doc = await UploadAsync(Admin, "minutes-2026-11.txt", Uploads.Text("minutes"));
        doc.GetProperty("title").GetString().ShouldBe("minutes-2026-11");
    }

    [Fact]
    public async Task Download_streams_identical_bytes_with_disposition_etag_and_ranges()
    {
        var content = Uploads.Pdf(100_000);
        var doc = await UploadAsync(Admin, "Ünïcode – name.pdf", content);
        var id = doc.GetProperty("id").GetGuid();

        using var full = await Admin.GetAsync($"/api/v1/documents/{id}/content");
        await full.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await full.Content.ReadAsByteArrayAsync()).ShouldBe(content);
        full.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        full.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
        full.Content.Headers.ContentDisposition.FileNameStar.ShouldBe("Ünïcode – name.pdf");
        full.Headers.AcceptRanges.ShouldContain("bytes");
        var etag = full.Headers.ETag!;
        etag.Tag.ShouldBe($"\"{doc.GetProperty("currentVersion").GetProperty("sha256").GetString()}\"");

        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{id}/content");
        rangeRequest.Headers.Range = new RangeHeaderValue(1000, 1999);
        using var partial = await Admin.SendAsync(rangeRequest);
        await partial.ShouldHaveStatusAsync(HttpStatusCode.PartialContent);
        (await partial.Content.ReadAsByteArrayAsync()).ShouldBe(content[1000..2000]);
        partial.Content.Headers.ContentRange!.ToString().ShouldBe($"bytes 1000-1999/{content.Length}");

        using var suffix = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{id}/content");
        suffix.Headers.Range = new RangeHeaderValue(null, 10);
        using var tail = await Admin.SendAsync(suffix);
        await tail.ShouldHaveStatusAsync(HttpStatusCode.PartialContent);
        (await tail.Content.ReadAsByteArrayAsync()).ShouldBe(content[^10..]);

        using var unsatisfiable = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{id}/content");
        unsatisfiable.Headers.Range = new RangeHeaderValue(content.Length + 10, content.Length + 20);
        using var rejected = await Admin.SendAsync(unsatisfiable);
        rejected.StatusCode.ShouldBe(HttpStatusCode.RequestedRangeNotSatisfiable);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{id}/content");
        conditional.Headers.IfNoneMatch.Add(etag);
        using var notModified = await Admin.SendAsync(conditional);
        notModified.StatusCode.ShouldBe(HttpStatusCode.NotModified);
    }

    [Fact]
    public async Task Versions_list_the_immutable_versions_and_unknown_versions_are_404()
    {
        var doc = await UploadAsync(Admin, "v.txt", Uploads.Text("first"));
        var id = doc.GetProperty("id").GetGuid();
        var versions = await (await Admin.GetAsync($"/api/v1/documents/{id}/versions")).JsonAsync();
        versions.GetProperty("items").GetArrayLength().ShouldBe(1);
        versions.GetProperty("items")[0].GetProperty("number").GetInt32().ShouldBe(1);

        using var v1 = await Admin.GetAsync($"/api/v1/documents/{id}/content?version=1");
        (await v1.Content.ReadAsStringAsync()).ShouldBe("first");
        using var v2 = await Admin.GetAsync($"/api/v1/documents/{id}/content?version=2");
        await v2.ShouldBeProblemAsync(HttpStatusCode.NotFound, "version.not_found");
        using var v0 = await Admin.GetAsync($"/api/v1/documents/{id}/content?version=0");
        await v0.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task List_pages_with_a_keyset_cursor_newest_first_without_gaps_or_repeats()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        var uploaded = new List<Guid>();
        for (var i = 0; i < 7; i++)
        {
            uploaded.Add((await UploadAsync(tenant.Admin.Client, $"page-{i}.txt", Uploads.Text($"doc {i}"))).GetProperty("id").GetGuid());
        }

        var seen = new List<Guid>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await (await tenant.Admin.Client.GetAsync($"/api/v1/documents?limit=3{(cursor is null ? "" : $"&cursor={cursor}")}")).JsonAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()));
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null && pages < 10);

        pages.ShouldBe(3);
        seen.ShouldBe(Enumerable.Reverse(uploaded).ToList());
    }

    [Fact]
    public async Task Search_matches_title_words_in_any_case_and_treats_symbols_as_separators()
    {
        // Issue 12 replaced the title substring match (ILIKE) with full-text search: words, not fragments inside words.
        var marker = Guid.NewGuid().ToString("N")[..8];
        await UploadAsync(Admin, "a.txt", Uploads.Text("a"), $"Annual BUDGET {marker}");
        await UploadAsync(Admin, "b.txt", Uploads.Text("b"), $"budget_100% {marker}");
        await UploadAsync(Admin, "c.txt", Uploads.Text("c"), $"Holiday plan {marker}");

        async Task<string[]> Titles(string q) =>
            (await (await Admin.GetAsync($"/api/v1/documents?q={Uri.EscapeDataString(q)}")).JsonAsync())
                .GetProperty("items").EnumerateArray().Select(d => d.GetProperty("title").GetString()!).ToArray();

        (await Titles($"budget {marker}")).Length.ShouldBe(2);
        (await Titles($"100% {marker}")).ShouldBe([$"budget_100% {marker}"]);
        (await Titles($"BUDGET_100 {marker}")).ShouldBe([$"budget_100% {marker}"]);
        (await Titles("%")).ShouldBeEmpty();
        (await Titles($"holiday PLAN {marker}")).ShouldBe([$"Holiday plan {marker}"]);
    }

    [Fact]
    public async Task Tag_workspace_and_folder_filters_narrow_the_list()
    {
        var tag = $"tag-{Guid.NewGuid():N}"[..12];
        using var ws = await Admin.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Legal {tag}" });
        await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var workspaceId = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        using var folderResponse = await Admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId, name = "Contracts" });
        await folderResponse.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var folderId = (await folderResponse.JsonAsync()).GetProperty("id").GetGuid();

        var inFolder = await UploadAsync(Admin, "contract.txt", Uploads.Text("c"), tags: tag.ToUpperInvariant(), folderId: folderId);
        inFolder.GetProperty("workspaceId").GetGuid().ShouldBe(workspaceId);
        await UploadAsync(Admin, "loose.txt", Uploads.Text("l"), tags: tag, workspaceId: workspaceId);
        await UploadAsync(Admin, "elsewhere.txt", Uploads.Text("e"));

        async Task<int> Count(string query) =>
            (await (await Admin.GetAsync($"/api/v1/documents?{query}")).JsonAsync()).GetProperty("items").GetArrayLength();

        (await Count($"tag={tag}")).ShouldBe(2);
        (await Count($"workspaceId={workspaceId}")).ShouldBe(2);
        (await Count($"folderId={folderId}")).ShouldBe(1);

        var folder = await (await Admin.GetAsync($"/api/v1/folders/{folderId}")).JsonAsync();
        folder.GetProperty("documents").GetProperty("items")[0].GetProperty("id").GetGuid().ShouldBe(inFolder.GetProperty("id").GetGuid());
    }

    [Fact]
    public async Task Patch_needs_if_match_and_a_stale_etag_is_412()
    {
        var doc = await UploadAsync(Admin, "edit.txt", Uploads.Text("e"), "Before");
        var id = doc.GetProperty("id").GetGuid();

        using var missing = await Admin.PatchAsJsonAsync($"/api/v1/documents/{id}", new { title = "After" });
        await missing.ShouldBeProblemAsync((HttpStatusCode)428, "document.precondition_required");

        using var ok = await PatchAsync(id, "\"1\"", new { title = "After", description = "Now described", tags = new[] { "X", "y", "x" } });
        await ok.ShouldHaveStatusAsync(HttpStatusCode.OK);
        ok.Headers.ETag!.Tag.ShouldBe("\"2\"");
        var edited = await ok.JsonAsync();
        edited.GetProperty("title").GetString().ShouldBe("After");
        edited.GetProperty("description").GetString().ShouldBe("Now described");
        edited.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ShouldBe(["x", "y"]);
        edited.GetProperty("currentVersion").GetProperty("number").GetInt32().ShouldBe(1);

        using var stale = await PatchAsync(id, "\"1\"", new { title = "Lost update" });
        await stale.ShouldBeProblemAsync(HttpStatusCode.PreconditionFailed, "document.precondition_failed");
        using var weak = await PatchAsync(id, "W/\"2\"", new { title = "Weak" });
        await weak.ShouldBeProblemAsync(HttpStatusCode.PreconditionFailed, "document.precondition_failed");

        using var clear = await PatchAsync(id, "\"2\"", new { description = (string?)null });
        await clear.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await clear.JsonAsync()).GetProperty("description").ValueKind.ShouldBe(JsonValueKind.Null);

        var current = await (await Admin.GetAsync($"/api/v1/documents/{id}")).JsonAsync();
        current.GetProperty("title").GetString().ShouldBe("After");
    }

    [Fact]
    public async Task Of_many_concurrent_edits_from_one_etag_exactly_one_wins()
    {
        var doc = await UploadAsync(Admin, "race.txt", Uploads.Text("r"));
        var id = doc.GetProperty("id").GetGuid();
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => PatchAsync(id, "\"1\"", new { title = $"Editor {i}" })));
        responses.Count(r => r.StatusCode == HttpStatusCode.OK).ShouldBe(1);
        responses.Count(r => r.StatusCode == HttpStatusCode.PreconditionFailed).ShouldBe(49);
        var winner = await responses.Single(r => r.StatusCode == HttpStatusCode.OK).JsonAsync();
        var current = await (await Admin.GetAsync($"/api/v1/documents/{id}")).JsonAsync();
        current.GetProperty("title").GetString().ShouldBe(winner.GetProperty("title").GetString());
    }

    [Fact]
    public async Task Text_that_cannot_be_stored_is_a_400_not_a_500()
    {
        var doc = await UploadAsync(Admin, "surrogate.txt", Uploads.Text("s"));
        using var response = await PatchRawAsync(doc.GetProperty("id").GetGuid(), "\"1\"", "{\"title\":\"\\ud800\"}");
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_text");
    }

    [Theory]
    [InlineData("{\"status\":\"Deleted\"}", "status")]
    [InlineData("{\"title\":\"\"}", "title")]
    [InlineData("{\"title\":42}", "title")]
    [InlineData("{\"tags\":\"not-an-array\"}", "tags")]
    [InlineData("[1,2]", "body")]
    public async Task Patch_rejects_invalid_or_non_editable_fields(string json, string field)
    {
        var doc = await UploadAsync(Admin, "strict.txt", Uploads.Text("s"));
        using var response = await PatchRawAsync(doc.GetProperty("id").GetGuid(), "\"1\"", json);
        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData("malware.exe", "document.type_not_allowed")]
    [InlineData("page.html", "document.type_not_allowed")]
    [InlineData("fake.pdf", "document.content_mismatch")]
    [InlineData("fake.png", "document.content_mismatch")]
    [InlineData("binary.txt", "document.content_mismatch")]
    [InlineData("zip.docx", "document.content_mismatch")]
    public async Task Disallowed_or_mislabelled_files_are_415_and_leave_nothing_behind(string fileName, string code)
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        byte[] content = fileName switch
        {
            "binary.txt" => [0x00, 0x01, 0x02, 0xFF, 0xFE],
            "zip.docx" => [0x50, 0x4B, 0x03, 0x04, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, (byte)'a', (byte)'.', (byte)'b', (byte)'i', (byte)'n'],
            _ => Uploads.Text("MZ this is not what the name says"),
        };
        using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content));
        await response.ShouldBeProblemAsync(HttpStatusCode.UnsupportedMediaType, code);
        await ShouldBeEmptyAsync(tenant);
    }

    [Fact]
    public async Task A_file_over_the_size_limit_is_413_and_leaves_nothing_behind()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("big.pdf", Uploads.Pdf((int)DmsApp.MaxUploadBytes + 1)));
        await response.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "document.too_large");
        await ShouldBeEmptyAsync(tenant);

        using var exact = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("exact.pdf", Uploads.Pdf((int)DmsApp.MaxUploadBytes)));
        await exact.ShouldHaveStatusAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_multipart_body_cut_short_is_400_and_leaves_nothing_behind()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        var body = "--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.txt\"\r\n\r\nthe body ends before the closing boundary"u8.ToArray();
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=XBOUNDARY");
        using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", content);
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.malformed_multipart");
        await ShouldBeEmptyAsync(tenant);
    }

    [Fact]
    public async Task Invalid_fields_after_the_file_are_400_and_the_stored_blob_is_removed()
    {
        var tenant = await Tenant.App.CreateTenantAsync();
        using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents",
            Uploads.Form("ok.txt", Uploads.Text("fine"), title: new string('t', 301)));
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        using var unknownWorkspace = await tenant.Admin.Client.PostAsync("/api/v1/documents",
            Uploads.Form("ok.txt", Uploads.Text("fine"), workspaceId: Guid.NewGuid()));
        await unknownWorkspace.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "workspace.not_found");
        await ShouldBeEmptyAsync(tenant);
    }

    [Fact]
    public async Task Viewers_read_but_cannot_upload_or_edit_and_auditors_cannot_read_documents()
    {
        var doc = await UploadAsync(Admin, "shared.txt", Uploads.Text("shared"));
        var id = doc.GetProperty("id").GetGuid();
        var viewer = await Tenant.CreateUserAsync("Viewer");
        await (await viewer.Client.GetAsync($"/api/v1/documents/{id}/content")).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await viewer.Client.PostAsync("/api/v1/documents", Uploads.Form("v.txt", Uploads.Text("v")))).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
        await (await viewer.Client.PatchAsJsonAsync($"/api/v1/documents/{id}", new { title = "x" })).ShouldBeProblemAsync(HttpStatusCode.Forbidden);

        var member = await Tenant.CreateUserAsync("Member");
        var own = await UploadAsync(member.Client, "m.txt", Uploads.Text("m"));
        own.GetProperty("createdBy").GetGuid().ShouldBe(member.UserId);

        var auditor = await Tenant.CreateUserAsync("Auditor");
        await (await auditor.Client.GetAsync($"/api/v1/documents/{id}")).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.forbidden");
    }

    private Task<HttpResponseMessage> PatchAsync(Guid id, string ifMatch, object body) =>
        PatchRawAsync(id, ifMatch, JsonSerializer.Serialize(body));

    private Task<HttpResponseMessage> PatchRawAsync(Guid id, string ifMatch, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{id}")
        {
            Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        return Admin.SendAsync(request);
    }

    /// <summary>No document rows (through the API) and no blobs (on disk) for the tenant.</summary>
    private static async Task ShouldBeEmptyAsync(TestTenant tenant)
    {
        var list = await (await tenant.Admin.Client.GetAsync("/api/v1/documents")).JsonAsync();
        list.GetProperty("items").GetArrayLength().ShouldBe(0);
        var prefix = Path.Combine(tenant.App.BlobRoot, tenant.Id.ToString("N"));
        (Directory.Exists(prefix) ? Directory.GetFiles(prefix, "*", SearchOption.AllDirectories) : []).ShouldBeEmpty();
    }
}
