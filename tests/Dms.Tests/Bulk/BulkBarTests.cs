using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Bulk;

/// <summary>
/// The bulk bar's inputs over real HTTP (issue 16): "Move to" and "Set type to" start jobs that do what was picked, "Field" +
/// "Value" show for a list filtered by a type, and a saved view opened from the views page shows its columns in the table.
/// </summary>
public sealed class BulkBarTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task Move_to_a_destination_moves_the_ticked_documents_there()
    {
        var t = f.Tenant;
        var name = $"Bar ws {Guid.NewGuid():N}"[..16];
        using var ws = await t.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name });
        await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var workspace = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        using var fo = await t.Admin.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = workspace, name = "Archive" });
        await fo.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var folder = (await fo.JsonAsync()).GetProperty("id").GetGuid();
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 3, "Bar move", _ => ["barmove"]);
        var ui = await t.SignInToUiAsync(t.Admin);

        var list = await ui.GetStringAsync("/documents?tag=barmove");
        list.ShouldContain("<label for=\"bulk-move-to\">Move to</label>");
        list.ShouldContain($"<option value=\"{workspace}/{folder}\">{name} / Archive</option>");
        list.ShouldContain($"<option value=\"{workspace}\">{name} (top level)</option>");

        using (var none = await PostBarAsync(ui, list, "move", [ids[0]], ("moveTo", "")))
        {
            none.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await none.Content.ReadAsStringAsync()).ShouldContain("Choose where to move the documents.");
        }
        var job = await StartAsync(ui, list, "move", [ids[0], ids[1]], ("moveTo", $"{workspace}/{folder}"));
        (await BulkSupport.WaitAsync(t.Admin, job)).GetProperty("done").GetInt32().ShouldBe(2);

        foreach (var id in ids[..2])
        {
            var doc = await DocumentAsync(t, id);
            doc.GetProperty("workspaceId").GetGuid().ShouldBe(workspace);
            doc.GetProperty("folderId").GetGuid().ShouldBe(folder);
        }
        (await DocumentAsync(t, ids[2])).GetProperty("workspaceId").GetGuid().ShouldBe(t.DefaultWorkspaceId, "an unticked document stays");
    }

    [Fact]
    public async Task Set_type_to_gives_the_type_field_and_value_set_a_field_and_no_type_clears_it()
    {
        var t = f.Tenant;
        var typeName = $"Bar invoice {Guid.NewGuid():N}"[..20];
        var type = await TypeAsync(t, typeName);
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 3, "Bar type", _ => ["bartype"]);
        var ui = await t.SignInToUiAsync(t.Admin);

        var list = await ui.GetStringAsync("/documents?tag=bartype");
        list.ShouldContain("<label for=\"bulk-type\">Set type to</label>");
        list.ShouldContain($"<option value=\"{type}\">{typeName}</option>");
        list.ShouldContain("<option value=\"none\">No type</option>");
        list.ShouldNotContain("for=\"bulk-field\"", customMessage: "without a type filter there is no field to offer");
        list.ShouldContain("To set a field, filter the list by a document type.");

        using (var none = await PostBarAsync(ui, list, "setType", [ids[0]], ("setTypeId", "")))
        {
            none.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await none.Content.ReadAsStringAsync()).ShouldContain("Choose a type to set, or No type to clear it.");
        }
        var typed = await StartAsync(ui, list, "setType", [ids[0], ids[1]], ("setTypeId", type.ToString()));
        (await BulkSupport.WaitAsync(t.Admin, typed)).GetProperty("done").GetInt32().ShouldBe(2);
        (await DocumentAsync(t, ids[0])).GetProperty("typeId").GetGuid().ShouldBe(type);
        (await DocumentAsync(t, ids[1])).GetProperty("typeId").GetGuid().ShouldBe(type);
        (await DocumentAsync(t, ids[2])).GetProperty("typeId").ValueKind.ShouldBe(JsonValueKind.Null);

        // Filtered by the type, the bar offers its fields by label; "Select all matching" sets the value on both.
        var byType = await ui.GetStringAsync($"/documents?tag=bartype&typeId={type}");
        byType.ShouldContain("<label for=\"bulk-field\">Field</label>");
        byType.ShouldContain("<option value=\"amount\">Amount due</option>");
        byType.ShouldContain("<label for=\"bulk-value\">Value</label>");
        var fielded = await StartAsync(ui, byType, "setField", [], ("all", "true"), ("filter.tag", "bartype"), ("filter.typeId", type.ToString()),
            ("fieldTypeId", type.ToString()), ("fieldKey", "amount"), ("fieldValue", "12.5"));
        (await BulkSupport.WaitAsync(t.Admin, fielded)).GetProperty("done").GetInt32().ShouldBe(2);
        (await DocumentAsync(t, ids[0])).GetProperty("fields").GetProperty("amount").GetDecimal().ShouldBe(12.5m);
        (await DocumentAsync(t, ids[1])).GetProperty("fields").GetProperty("amount").GetDecimal().ShouldBe(12.5m);

        var cleared = await StartAsync(ui, list, "setType", [ids[0]], ("setTypeId", "none"));
        (await BulkSupport.WaitAsync(t.Admin, cleared)).GetProperty("done").GetInt32().ShouldBe(1);
        (await DocumentAsync(t, ids[0])).GetProperty("typeId").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task A_saved_view_opened_from_the_views_page_shows_its_columns()
    {
        var t = f.Tenant;
        var type = await TypeAsync(t, $"Bar cols {Guid.NewGuid():N}"[..20]);
        var (ids, _) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, 2, "Bar cols", i => i == 0 ? ["barcols", "red"] : ["barcols"]);
        var job = await BulkSupport.StartAsync(t.Admin, new { action = "setType", documentIds = ids, @params = new { typeId = type, fields = new { amount = 42 } } });
        (await BulkSupport.WaitAsync(t.Admin, job)).GetProperty("done").GetInt32().ShouldBe(2);
        using var created = await t.Admin.Client.PostAsJsonAsync("/api/v1/views",
            new { name = "Bar columns", query = new { tag = "barcols" }, columns = new[] { "status", "fields.amount", "tags" }, pinned = true });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var view = (await created.JsonAsync()).GetProperty("id").GetGuid();
        var ui = await t.SignInToUiAsync(t.Admin);

        var href = $"/documents?tag=barcols&amp;savedView={view}";
        (await ui.GetStringAsync("/views")).ShouldContain($"href=\"{href}\"");
        (await ui.GetStringAsync("/")).ShouldContain($"href=\"{href}\"");

        var opened = WebUtility.HtmlDecode(await ui.GetStringAsync(WebUtility.HtmlDecode(href)));
        opened.ShouldContain("Columns of the saved view “Bar columns”");
        Headings(opened).ShouldBe(["title:Title", "status:Status", "fields.amount:Amount due", "tags:Tags"]);
        opened.ShouldContain("<td>42</td>");
        opened.ShouldContain($"name=\"savedView\" value=\"{view}\"", customMessage: "changing a filter keeps the view's columns");

        var plain = await ui.GetStringAsync("/documents?tag=barcols");
        Headings(plain).ShouldBe(["title:Title", "type:Type", "size:Size", "workspace:Workspace", "status:Status", "updatedAt:Updated"]);
        plain.ShouldNotContain("Amount due</th>");

        var unknown = WebUtility.HtmlDecode(await ui.GetStringAsync($"/documents?tag=barcols&savedView={Guid.NewGuid()}"));
        unknown.ShouldContain("The saved view could not be opened");
        Headings(unknown).ShouldBe(["title:Title", "type:Type", "size:Size", "workspace:Workspace", "status:Status", "updatedAt:Updated"]);
    }

    private static List<string> Headings(string html) =>
        [.. System.Text.RegularExpressions.Regex.Matches(html, "<th scope=\"col\"(?: class=\"[^\"]*\")? data-column=\"([^\"]+)\">([^<]*)</th>")
            .Select(m => $"{m.Groups[1].Value}:{m.Groups[2].Value}")];

    private static async Task<Guid> TypeAsync(TestTenant t, string name)
    {
        using var response = await t.Admin.Client.PostAsJsonAsync("/api/v1/document-types", new
        {
            name,
            fields = new object[]
            {
                new { key = "amount", label = "Amount due", kind = "number", required = false },
                new { key = "ref", label = "Reference", kind = "text", required = false },
            },
        });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> DocumentAsync(TestTenant t, Guid id)
    {
        using var response = await t.Admin.Client.GetAsync($"/api/v1/documents/{id}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    /// <summary>Posts the bar as a browser would: the ticked rows' <c>ids</c> (repeated) and the inputs.</summary>
    private static Task<HttpResponseMessage> PostBarAsync(HttpClient ui, string page, string action, IEnumerable<Guid> ids, params (string Name, string Value)[] inputs) =>
        ui.PostAsync("/bulk-jobs", new FormUrlEncodedContent(ids.Select(id => new KeyValuePair<string, string>("ids", id.ToString()))
            .Concat(inputs.Select(i => new KeyValuePair<string, string>(i.Name, i.Value)))
            .Append(new("action", action))
            .Append(new("__RequestVerificationToken", UiForms.Token(page)))));

    private static async Task<Guid> StartAsync(HttpClient ui, string page, string action, IEnumerable<Guid> ids, params (string Name, string Value)[] inputs)
    {
        using var started = await PostBarAsync(ui, page, action, ids, inputs);
        started.StatusCode.ShouldBe(HttpStatusCode.Redirect, await started.Content.ReadAsStringAsync());
        var location = started.Headers.Location!.ToString();
        location.ShouldStartWith("/bulk-jobs/");
        return Guid.Parse(location["/bulk-jobs/".Length..]);
    }
}
