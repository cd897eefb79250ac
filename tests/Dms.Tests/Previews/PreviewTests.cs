using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Shouldly;
using Xunit;

namespace Dms.Tests.Previews;

/// <summary>
/// Thumbnails and previews through HTTP, rendered by the worker with the real tools (vips, pdftoppm, LibreOffice), and
/// authorised like downloads.
/// </summary>
public sealed class PreviewTests(PreviewFixture f) : IClassFixture<PreviewFixture>
{
    private HttpClient Admin => f.Tenant.Admin.Client;

    private async Task<byte[]> ThumbnailAsync(Guid documentId, params string[] contentTypes)
    {
        using var response = await Admin.GetAsync($"/api/v1/documents/{documentId}/thumbnail");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBeOneOf(contentTypes);
        response.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("inline");
        response.Headers.CacheControl!.Private.ShouldBeTrue();
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var width = Samples.ImageWidth(bytes);
        width.ShouldBeInRange(100, 320);
        return bytes;
    }

    private async Task<byte[]> PreviewAsync(Guid documentId)
    {
        using var response = await Admin.GetAsync($"/api/v1/documents/{documentId}/preview");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        response.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("inline");
        var bytes = await response.Content.ReadAsByteArrayAsync();
        bytes.AsSpan(0, 5).SequenceEqual("%PDF-"u8).ShouldBeTrue("a preview is a PDF");
        return bytes;
    }

    private async Task<List<string?>> ActionsAsync(Guid documentId)
    {
        using var response = await Admin.GetAsync($"/api/v1/audit?limit=500&entityId={documentId}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return [.. (await response.JsonAsync()).GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString())];
    }

    [Fact]
    public async Task An_image_gets_a_thumbnail_320_pixels_wide_and_is_its_own_preview()
    {
        (await ThumbnailAsync(f.Png, "image/png", "image/jpeg")).Length.ShouldBeGreaterThan(0);
        Samples.ImageWidth(await ThumbnailAsync(f.Png, "image/png")).ShouldBe(320, "an 800 px image is scaled to 320 px");
        var none = await (await Admin.GetAsync($"/api/v1/documents/{f.Png}/preview")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "rendition.unsupported");
        none.GetProperty("detail").GetString()!.ShouldContain("shown as they are");
    }

    [Fact]
    public async Task A_pdf_gets_a_thumbnail_of_its_first_page()
    {
        Samples.ImageWidth(await ThumbnailAsync(f.Pdf, "image/png")).ShouldBe(320);
        await (await Admin.GetAsync($"/api/v1/documents/{f.Pdf}/preview")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "rendition.unsupported");
    }

    [Fact]
    public async Task A_docx_gets_a_pdf_preview_recorded_as_a_view_and_a_thumbnail_that_is_not()
    {
        var before = await ActionsAsync(f.Docx);
        await PreviewAsync(f.Docx);
        await ThumbnailAsync(f.Docx, "image/png");
        var after = await ActionsAsync(f.Docx);
        after.Count(a => a == "document.viewed").ShouldBe(before.Count(a => a == "document.viewed") + 1, "the preview is a view; the thumbnail is not");
    }

    [Fact]
    public async Task Csv_and_text_files_get_a_pdf_preview()
    {
        await PreviewAsync(f.Csv);
        await PreviewAsync(f.Txt);
        await ThumbnailAsync(f.Txt, "image/png");
    }

    [Fact]
    public async Task A_corrupt_image_records_why_and_the_document_stays_usable()
    {
        var failed = await (await Admin.GetAsync($"/api/v1/documents/{f.Corrupt}/thumbnail")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "rendition.failed");
        failed.GetProperty("detail").GetString()!.ShouldContain("could not be read");
        using var metadata = await Admin.GetAsync($"/api/v1/documents/{f.Corrupt}");
        (await metadata.JsonAsync()).GetProperty("status").GetString().ShouldBe("Active");
        using var download = await Admin.GetAsync($"/api/v1/documents/{f.Corrupt}/content?redirect=false");
        await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(Samples.CorruptPng());
    }

    [Fact]
    public async Task Renditions_are_authorised_like_downloads()
    {
        foreach (var kind in new[] { "thumbnail", "preview" })
        {
            // A member of the tenant outside the workspace: the document does not exist for them.
            await (await f.Member.Client.GetAsync($"/api/v1/documents/{f.Secret}/{kind}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
            await (await f.Member.Client.GetAsync($"/api/v1/documents/{f.Secret}/content")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
            // Another tenant's admin, with the id in hand.
            await (await f.Other.Admin.Client.GetAsync($"/api/v1/documents/{f.Docx}/{kind}")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
            using var anonymous = await f.App.CreateClient().GetAsync($"/api/v1/documents/{f.Docx}/{kind}");
            anonymous.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        // The member can see what the default workspace holds.
        using var allowed = await f.Member.Client.GetAsync($"/api/v1/documents/{f.Txt}/thumbnail");
        await allowed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await Admin.GetAsync($"/api/v1/documents/{f.Txt}/thumbnail?version=2")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "version.not_found");
        await (await Admin.GetAsync($"/api/v1/documents/{f.Txt}/thumbnail?version=0")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }

    [Fact]
    public async Task A_deleted_document_has_no_renditions()
    {
        using var upload = await f.Member.Client.PostAsync("/api/v1/documents", Uploads.Form("gone.png", Samples.Png(64, 64)));
        await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        await f.WaitRenderedAsync(documentId);
        await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/thumbnail")).ShouldHaveStatusAsync(HttpStatusCode.OK);

        using var request = await f.Member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "Obsolete" });
        await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approvalId = (await request.JsonAsync()).GetProperty("id").GetGuid();
        await (await Admin.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" })).ShouldHaveStatusAsync(HttpStatusCode.OK);
        for (var i = 0; i < 300; i++)
        {
            using var state = await Admin.GetAsync($"/api/v1/approvals/{approvalId}");
            if ((await state.JsonAsync()).GetProperty("status").GetString() == "Executed")
            {
                break;
            }
            await Task.Delay(50);
        }
        await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/thumbnail")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        await (await Admin.GetAsync($"/api/v1/documents/{documentId}/thumbnail")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
    }

    [Fact]
    public async Task The_document_page_shows_the_rendered_preview_and_the_list_offers_a_thumbnail_grid()
    {
        var ui = await SignInToUiAsync();
        var docx = await ui.GetStringAsync($"/documents/{f.Docx}");
        docx.ShouldContain($"/ui/documents/{f.Docx}/preview?rendition=preview&amp;version=1");
        var broken = await ui.GetStringAsync($"/documents/{f.Corrupt}");
        broken.ShouldContain("could not be read");
        using (var pdf = await ui.GetAsync($"/ui/documents/{f.Docx}/preview?rendition=preview"))
        {
            await pdf.ShouldHaveStatusAsync(HttpStatusCode.OK);
            pdf.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        }

        var grid = await ui.GetStringAsync("/documents?view=grid");
        grid.ShouldContain("data-testid=\"documents-grid\"");
        grid.ShouldContain($"src=\"/ui/documents/{f.Png}/preview?rendition=thumbnail&amp;version=1\"");
        grid.ShouldContain("loading=\"lazy\"");
        grid.ShouldContain("alt=\"Thumbnail of photo\"");
        grid.ShouldNotContain($"/ui/documents/{f.Corrupt}/preview?rendition=thumbnail", customMessage: "a failed thumbnail shows the file-type placeholder");
        using var thumbnail = await ui.GetAsync($"/ui/documents/{f.Png}/preview?rendition=thumbnail&version=1");
        await thumbnail.ShouldHaveStatusAsync(HttpStatusCode.OK);
        thumbnail.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        (await ui.GetStringAsync("/documents")).ShouldNotContain("data-testid=\"documents-grid\"");
    }

    private async Task<HttpClient> SignInToUiAsync()
    {
        var client = f.App.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var form = await client.GetStringAsync("/login");
        var token = System.Text.RegularExpressions.Regex.Match(form, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"");
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Tenant"] = f.Tenant.Slug,
            ["Email"] = f.Tenant.Admin.Email,
            ["Password"] = f.Tenant.Admin.Password,
            ["__RequestVerificationToken"] = token.Success ? WebUtility.HtmlDecode(token.Groups[1].Value) : "",
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        return client;
    }
}
