using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.DocumentTypes;

/// <summary>
/// Direct-upload sessions into a document type (issue 16 item 1, "set on upload"): the type and values are checked when
/// the session is created, with the streamed upload's codes, and the completion creates the document typed.
/// </summary>
public sealed class UploadSessionTypeTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => f.Tenant;

    private async Task<Guid> CreateTypeAsync()
    {
        using var response = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/document-types", new
        {
            name = $"Invoice {Guid.NewGuid():N}",
            fields = new object[]
            {
                new { key = "amount", label = "Amount", kind = "number", required = true },
                new { key = "currency", label = "Currency", kind = "select", options = new[] { "EUR", "USD" }, @default = "EUR" },
            },
        });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private Task<HttpResponseMessage> CreateSessionAsync(byte[] content, object? typeId, object? fields) =>
        Tenant.Admin.Client.PostAsJsonAsync("/api/v1/uploads",
            new { fileName = "typed.txt", size = content.Length, contentType = "text/plain", typeId, fields });

    [Fact]
    public async Task Session_creation_refuses_a_missing_required_field_an_unknown_type_and_values_without_a_type()
    {
        var typeId = await CreateTypeAsync();
        var content = Uploads.Text($"typed {Guid.NewGuid()}");

        using (var missing = await CreateSessionAsync(content, typeId, new { currency = "USD" }))
        {
            var problem = await missing.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.field_required");
            problem.GetProperty("errors").TryGetProperty("fields.amount", out _).ShouldBeTrue();
            problem.GetProperty("title").GetString()!.ShouldContain("Amount");
        }
        using (var unknown = await CreateSessionAsync(content, Guid.NewGuid(), new { amount = 1 }))
        {
            await unknown.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.unknown_type");
        }
        using (var untyped = await CreateSessionAsync(content, null, new { amount = 1 }))
        {
            await untyped.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.fields_without_type");
        }
        using (var notObject = await CreateSessionAsync(content, typeId, new[] { 1 }))
        {
            await notObject.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.invalid_field");
        }
        using (var badId = await CreateSessionAsync(content, "not-a-guid", new { amount = 1 }))
        {
            badId.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        }
    }

    [Fact]
    public async Task Completion_creates_the_typed_document_and_its_values_filter_the_list()
    {
        var typeId = await CreateTypeAsync();
        var content = Uploads.Text($"typed {Guid.NewGuid()}");
        using var created = await CreateSessionAsync(content, typeId, new { amount = 42.5 });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var session = await created.JsonAsync();
        using (var put = await Tenant.App.SendToUrlAsync(HttpMethod.Put, new Uri(session.GetProperty("url").GetString()!), new ByteArrayContent(content)))
        {
            await put.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        using var completed = await Tenant.Admin.Client.PostAsJsonAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}/complete", new { title = "Typed direct" });
        await completed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = await completed.JsonAsync();
        var documentId = document.GetProperty("id").GetGuid();
        document.GetProperty("typeId").GetGuid().ShouldBe(typeId);
        document.GetProperty("fields").GetProperty("amount").GetDecimal().ShouldBe(42.5m);
        document.GetProperty("fields").GetProperty("currency").GetString().ShouldBe("EUR");

        async Task<Guid[]> Ids(string query)
        {
            using var r = await Tenant.Admin.Client.GetAsync($"/api/v1/documents?typeId={typeId}&{query}");
            await r.ShouldHaveStatusAsync(HttpStatusCode.OK);
            return [.. (await r.JsonAsync()).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid())];
        }
        (await Ids("f.amount=42.5")).ShouldBe([documentId]);
        (await Ids("f.currency=EUR")).ShouldBe([documentId]);
        (await Ids("f.amount=1")).ShouldBeEmpty();
    }

    [Fact]
    public async Task The_upload_area_offers_the_types_and_their_fields_in_words()
    {
        var typeId = await CreateTypeAsync();
        using var ui = await Tenant.SignInToUiAsync(Tenant.Admin);
        var page = await ui.GetStringAsync("/documents");
        var area = page[page.IndexOf("id=\"upload-title\"", StringComparison.Ordinal)..page.IndexOf("id=\"upload-list\"", StringComparison.Ordinal)];
        area.ShouldContain("<label for=\"upload-type\">Document type</label>");
        area.ShouldContain("<option value=\"\">No type</option>");
        area.ShouldContain($"<option value=\"{typeId}\">Invoice ");
        area.ShouldContain($"data-type-fields=\"{typeId}\" hidden");
        area.ShouldContain("Amount<span class=\"muted\"> (required)</span>");
        area.ShouldContain("type=\"number\"");
        area.ShouldContain("<option value=\"USD\">USD</option>");
        area.ShouldContain("<option value=\"EUR\" selected=\"selected\">EUR</option>", Case.Sensitive, "the default is preselected");
        area.ShouldNotContain(">number<");
        area.ShouldNotContain(">select<");
    }
}
