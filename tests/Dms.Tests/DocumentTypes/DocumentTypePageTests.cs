using System.Net;
using System.Net.Http.Headers;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.DocumentTypes;

/// <summary>The document type pages driven through their forms as a browser posts them: define a type, fill in a document's fields, filter the list.</summary>
public sealed class DocumentTypePageTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task An_admin_defines_a_type_fills_in_a_document_and_filters_the_list_by_a_field()
    {
        var tenant = f.Tenant;
        using var ui = await tenant.SignInToUiAsync(tenant.Admin);
        var page = await ui.GetStringAsync("/admin/document-types");
        page.ShouldContain("No document types yet.");
        page.ShouldContain("href=\"/admin/document-types\"", Case.Sensitive, "the admin navigation links the page");

        var name = $"Invoice {Guid.NewGuid():N}"[..16];
        using (var created = await ui.PostFormAsync("/admin/document-types?handler=Create", page, new() { ["name"] = name }))
        {
            created.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            page = await ui.GetStringAsync(created.Headers.Location!.ToString());
        }
        var typeId = Guid.Parse(page.Split("/admin/document-types?id=")[1][..36]);
        using (var saved = await ui.PostFormAsync($"/admin/document-types?handler=Fields&id={typeId}", page, new()
        {
            ["Fields[0].Label"] = "Due date",
            ["Fields[0].Key"] = "due",
            ["Fields[0].Kind"] = "date",
            ["Fields[0].Required"] = "true",
        }))
        {
            saved.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        page = await ui.GetStringAsync($"/admin/document-types?id={typeId}");
        using (var more = await ui.PostFormAsync($"/admin/document-types?handler=Fields&id={typeId}", page, new()
        {
            ["Fields[0].Label"] = "Due date",
            ["Fields[0].Key"] = "due",
            ["Fields[0].Kind"] = "date",
            ["Fields[0].Required"] = "true",
            ["Fields[1].Label"] = "Paid",
            ["Fields[1].Key"] = "paid",
            ["Fields[1].Kind"] = "boolean",
            ["Fields[2].Label"] = "Approver",
            ["Fields[2].Key"] = "approver",
            ["Fields[2].Kind"] = "user",
        }))
        {
            more.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        page = await ui.GetStringAsync($"/admin/document-types?id={typeId}");
        page.ShouldContain("Yes/no");
        page.ShouldContain("value=\"Paid\"");

        var form = new MultipartFormDataContent { { new StringContent("Page test"), "title" } };
        var file = new ByteArrayContent(Uploads.Text("page test"));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "page.txt");
        using var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", form);
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();

        var fields = await ui.GetStringAsync($"/documents/{documentId}/fields?typeId={typeId}");
        fields.ShouldContain("Due date *");
        using (var missing = await ui.PostFormAsync($"/documents/{documentId}/fields?typeId={typeId}", fields, new() { ["f.paid"] = "true" }))
        {
            missing.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await missing.Content.ReadAsStringAsync()).ShouldContain("Due date");
        }
        // A person is chosen by e-mail, never typed in as an id.
        var approver = await tenant.CreateUserAsync("Member");
        fields = await ui.GetStringAsync($"/documents/{documentId}/fields?typeId={typeId}");
        fields.ShouldContain($"<option value=\"{approver.UserId}\">{approver.Email}</option>");
        fields.ShouldNotContain("User id");
        using (var filled = await ui.PostFormAsync($"/documents/{documentId}/fields?typeId={typeId}", fields,
            new() { ["f.due"] = "2026-12-24", ["f.paid"] = "true", ["f.approver"] = approver.UserId.ToString() }))
        {
            filled.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        var document = await ui.GetStringAsync($"/documents/{documentId}");
        document.ShouldContain("<dt>Due date</dt>");
        document.ShouldContain("24 Dec 2026");
        document.ShouldContain("<dd>Yes</dd>");
        document.ShouldNotContain(">true<");
        document.ShouldContain($"<dt>Approver</dt>");
        document.ShouldContain($"<dd>{approver.Email}</dd>");
        document.ShouldNotContain($">{approver.UserId}<");

        var list = await ui.GetStringAsync($"/documents?typeId={typeId}&fieldKey=due&fieldValue=2026-12-24");
        list.ShouldContain($"/documents/{documentId}");
        list.ShouldContain("data-testid=\"doc-type\"");
        var none = await ui.GetStringAsync($"/documents?typeId={typeId}&fieldKey=due&fieldValue=2026-12-25");
        none.ShouldNotContain($"/documents/{documentId}\"");
    }
}
