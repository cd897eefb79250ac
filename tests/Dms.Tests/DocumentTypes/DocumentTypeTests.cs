using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Dms.Platform.Database;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.DocumentTypes;

/// <summary>
/// Document types with typed custom fields (issue 16 item 1) through HTTP: definitions and their problem codes, values on
/// upload and edit, and lists filtered and sorted by a field, paged with cursors. Each test makes a type of its own.
/// </summary>
public sealed class DocumentTypeTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => f.Tenant;

    private static object Invoice(string? name = null) => new
    {
        name = name ?? $"Invoice {Guid.NewGuid():N}",
        fields = new object[]
        {
            new { key = "amount", label = "Amount", kind = "number", required = true },
            new { key = "due", label = "Due date", kind = "date" },
            new { key = "paid", label = "Paid", kind = "boolean", @default = false },
            new { key = "currency", label = "Currency", kind = "select", options = new[] { "EUR", "USD" }, @default = "EUR" },
            new { key = "labels", label = "Labels", kind = "multiselect", options = new[] { "urgent", "disputed", "recurring" } },
            new { key = "owner", label = "Owner", kind = "user" },
            new { key = "link", label = "Link", kind = "url" },
            new { key = "note", label = "Note", kind = "text" },
        },
    };

    private async Task<JsonElement> CreateTypeAsync(object? body = null)
    {
        using var response = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/document-types", body ?? Invoice());
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    private static MultipartFormDataContent Form(Guid? typeId, string? fields, string title = "typed", Guid? workspace = null)
    {
        var form = new MultipartFormDataContent { { new StringContent(title), "title" } };
        if (workspace is not null)
        {
            form.Add(new StringContent(workspace.Value.ToString()), "workspaceId");
        }
        if (typeId is not null)
        {
            form.Add(new StringContent(typeId.Value.ToString()), "typeId");
        }
        if (fields is not null)
        {
            form.Add(new StringContent(fields), "fields");
        }
        var file = new ByteArrayContent(Uploads.Text($"typed {Guid.NewGuid()}"));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "typed.txt");
        return form;
    }

    private async Task<HttpResponseMessage> UploadAsync(Guid? typeId, object? fields) =>
        await Tenant.Admin.Client.PostAsync("/api/v1/documents", Form(typeId, fields is null ? null : JsonSerializer.Serialize(fields)));

    [Fact]
    public async Task An_admin_creates_reads_renames_and_deletes_a_type_and_a_member_reads_but_cannot_write()
    {
        var type = await CreateTypeAsync();
        var id = type.GetProperty("id").GetGuid();
        type.GetProperty("fields").GetArrayLength().ShouldBe(8);
        type.GetProperty("fields")[0].GetProperty("kind").GetString().ShouldBe("number");
        type.GetProperty("fields")[2].GetProperty("default").GetBoolean().ShouldBeFalse();

        var member = await Tenant.CreateUserAsync("Member");
        using (var read = await member.Client.GetAsync($"/api/v1/document-types/{id}"))
        {
            await read.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var list = await member.Client.GetAsync("/api/v1/document-types"))
        {
            (await list.JsonAsync()).GetProperty("items").EnumerateArray().ShouldContain(t => t.GetProperty("id").GetGuid() == id);
        }
        using (var write = await member.Client.PostAsJsonAsync("/api/v1/document-types", Invoice()))
        {
            write.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }

        var newName = $"Bill {Guid.NewGuid():N}";
        using (var renamed = await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/document-types/{id}", new { name = newName }))
        {
            await renamed.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await renamed.JsonAsync();
            body.GetProperty("name").GetString().ShouldBe(newName);
            body.GetProperty("fields").GetArrayLength().ShouldBe(8);
        }
        using (var taken = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/document-types", new { name = newName.ToUpperInvariant() }))
        {
            await taken.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document_type.name_taken");
        }
        using (var deleted = await Tenant.Admin.Client.DeleteAsync($"/api/v1/document-types/{id}"))
        {
            deleted.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        }
        using var gone = await Tenant.Admin.Client.GetAsync($"/api/v1/document-types/{id}");
        await gone.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document_type.not_found");
    }

    public static TheoryData<string, string> BadDefinitions => new()
    {
        { """{"name":"X","fields":[{"key":"1bad","label":"L","kind":"text"}]}""", "document_type.invalid_key" },
        { """{"name":"X","fields":[{"key":"a","label":"L","kind":"text"},{"key":"A","label":"M","kind":"number"}]}""", "document_type.duplicate_key" },
        { """{"name":"X","fields":[{"key":"a","label":"L","kind":"money"}]}""", "document_type.unknown_kind" },
        { """{"name":"X","fields":[{"key":"a","label":"L","kind":"select"}]}""", "document_type.options_required" },
        { """{"name":"X","fields":[{"key":"a","label":"L","kind":"number","default":"ten"}]}""", "document_type.invalid_default" },
        { """{"name":"X","fields":[{"key":"a","label":"L","kind":"select","options":["x"],"default":"y"}]}""", "document_type.invalid_default" },
        { """{"name":"X","fields":[{"key":"a","label":"","kind":"text"}]}""", "document_type.invalid_field" },
        { """{"name":"X","fields":[{"key":"a","label":"L","kind":"text","colour":"red"}]}""", "document_type.invalid_field" },
        { """{"name":"X","fields":{"a":1}}""", "document_type.invalid_field" },
        { """{"name":"","fields":[]}""", "document_type.invalid_name" },
        { """{"fields":[]}""", "document_type.invalid_name" },
    };

    [Theory]
    [MemberData(nameof(BadDefinitions))]
    public async Task A_bad_definition_is_a_400_with_its_code(string body, string code)
    {
        using var response = await Tenant.Admin.Client.PostAsync("/api/v1/document-types", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task Upload_with_values_applies_defaults_and_refuses_a_missing_required_field_and_text_in_a_number()
    {
        var typeId = (await CreateTypeAsync()).GetProperty("id").GetGuid();
        var owner = await Tenant.CreateUserAsync("Member");

        using (var missing = await UploadAsync(typeId, new { due = "2026-12-31" }))
        {
            var problem = await missing.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.field_required");
            problem.GetProperty("errors").TryGetProperty("fields.amount", out _).ShouldBeTrue();
            problem.GetProperty("title").GetString()!.ShouldContain("Amount");
        }
        using (var text = await UploadAsync(typeId, new { amount = "twelve" }))
        {
            var problem = await text.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.invalid_field");
            problem.GetProperty("errors").TryGetProperty("fields.amount", out _).ShouldBeTrue();
        }
        foreach (var (bad, key) in new (object Fields, string Key)[]
                 {
                     (new { amount = 1, due = "31.12.2026" }, "due"),
                     (new { amount = 1, link = "ftp://example.test/x" }, "link"),
                     (new { amount = 1, currency = "GBP" }, "currency"),
                     (new { amount = 1, labels = new[] { "urgent", "nope" } }, "labels"),
                     (new { amount = 1, owner = Guid.NewGuid() }, "owner"),
                     (new { amount = 1, paid = "maybe" }, "paid"),
                 })
        {
            using var response = await UploadAsync(typeId, bad);
            var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.invalid_field");
            problem.GetProperty("errors").TryGetProperty($"fields.{key}", out _).ShouldBeTrue(key);
        }
        using (var unknown = await UploadAsync(typeId, new { amount = 1, colour = "red" }))
        {
            await unknown.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.unknown_field");
        }
        using (var notJson = await Tenant.Admin.Client.PostAsync("/api/v1/documents", Form(typeId, "{not json")))
        {
            await notJson.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.invalid_field");
        }
        using (var noType = await UploadAsync(null, new { amount = 1 }))
        {
            await noType.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.fields_without_type");
        }
        using (var otherType = await UploadAsync(Guid.NewGuid(), new { amount = 1 }))
        {
            await otherType.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.unknown_type");
        }

        using var ok = await UploadAsync(typeId, new { amount = "12.50", due = "2026-12-31", labels = new[] { "urgent" }, owner = owner.UserId, link = "https://example.test/i/1" });
        await ok.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = await ok.JsonAsync();
        document.GetProperty("typeId").GetGuid().ShouldBe(typeId);
        var fields = document.GetProperty("fields");
        fields.GetProperty("amount").GetDecimal().ShouldBe(12.50m);
        fields.GetProperty("due").GetString().ShouldBe("2026-12-31");
        fields.GetProperty("paid").GetBoolean().ShouldBeFalse("the default applies");
        fields.GetProperty("currency").GetString().ShouldBe("EUR");
        fields.TryGetProperty("note", out _).ShouldBeFalse();
    }

    [Fact]
    public async Task Edit_sets_and_clears_values_with_If_Match_and_a_stale_ETag_is_412()
    {
        var typeId = (await CreateTypeAsync()).GetProperty("id").GetGuid();
        using var uploaded = await UploadAsync(typeId, new { amount = 5, note = "first" });
        var document = await uploaded.JsonAsync();
        var id = document.GetProperty("id").GetGuid();
        var etag = uploaded.Headers.ETag!.Tag;

        using (var noIfMatch = await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/documents/{id}", new { fields = new { amount = 6 } }))
        {
            noIfMatch.StatusCode.ShouldBe((HttpStatusCode)428);
        }
        using (var bad = await Patch(id, etag, new { fields = new { amount = "six" } }))
        {
            await bad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.invalid_field");
        }
        string newTag;
        using (var edited = await Patch(id, etag, new { fields = new { amount = 6, note = (string?)null, due = "2027-01-15" } }))
        {
            await edited.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var fields = (await edited.JsonAsync()).GetProperty("fields");
            fields.GetProperty("amount").GetDecimal().ShouldBe(6);
            fields.GetProperty("due").GetString().ShouldBe("2027-01-15");
            fields.TryGetProperty("note", out _).ShouldBeFalse("null clears a value");
            fields.GetProperty("currency").GetString().ShouldBe("EUR", "values not named keep theirs");
            newTag = edited.Headers.ETag!.Tag;
        }
        using (var stale = await Patch(id, etag, new { fields = new { amount = 7 } }))
        {
            await stale.ShouldBeProblemAsync(HttpStatusCode.PreconditionFailed, "document.precondition_failed");
        }
        using (var clearRequired = await Patch(id, newTag, new { fields = new { amount = (int?)null } }))
        {
            await clearRequired.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.field_required");
        }

        // A new type validates against the new type: its required field must come with it.
        var other = await CreateTypeAsync(new { name = $"Contract {Guid.NewGuid():N}", fields = new object[] { new { key = "party", label = "Party", kind = "text", required = true } } });
        var otherId = other.GetProperty("id").GetGuid();
        using (var retypedBad = await Patch(id, newTag, new { typeId = otherId }))
        {
            await retypedBad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.field_required");
        }
        using (var retyped = await Patch(id, newTag, new { typeId = otherId, fields = new { party = "ACME" } }))
        {
            await retyped.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await retyped.JsonAsync();
            body.GetProperty("typeId").GetGuid().ShouldBe(otherId);
            body.GetProperty("fields").EnumerateObject().Select(p => p.Name).ShouldBe(["party"]);
        }

        // The type is in use now: it cannot be deleted, nor can a field with values change its kind.
        using (var inUse = await Tenant.Admin.Client.DeleteAsync($"/api/v1/document-types/{otherId}"))
        {
            await inUse.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document_type.in_use");
        }
        using (var kind = await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/document-types/{otherId}",
                   new { fields = new object[] { new { key = "party", label = "Party", kind = "number" } } }))
        {
            await kind.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document_type.kind_in_use");
        }
    }

    private Task<HttpResponseMessage> Patch(Guid id, string etag, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{id}") { Content = JsonContent.Create(body) };
        request.Headers.TryAddWithoutValidation("If-Match", etag);
        return Tenant.Admin.Client.SendAsync(request);
    }

    [Fact]
    public async Task Field_filters_and_sorts_need_a_type_and_known_keys()
    {
        var typeId = (await CreateTypeAsync()).GetProperty("id").GetGuid();
        foreach (var (query, code) in new[]
                 {
                     ("f.due.gte=2026-01-01", "document_type.required_for_fields"),
                     ("sort=f.due", "document_type.required_for_fields"),
                     ($"typeId={typeId}&f.nope=1", "document.unknown_field"),
                     ($"typeId={typeId}&f.note.gte=a", "document.invalid_filter"),
                     ($"typeId={typeId}&f.due.gte=tomorrow", "document.invalid_filter"),
                     ($"typeId={typeId}&sort=f.labels", "document.invalid_sort"),
                     ($"typeId={Guid.NewGuid()}", "document.unknown_type"),
                     ($"typeId={typeId}&sort=f.due&cursor=eyJ4Ijox", "request.invalid_cursor"),
                 })
        {
            using var response = await Tenant.Admin.Client.GetAsync($"/api/v1/documents?{query}");
            await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, code);
        }
    }

    [Fact]
    public async Task Equality_contains_and_boolean_filters_find_exactly_the_matching_documents()
    {
        var typeId = (await CreateTypeAsync()).GetProperty("id").GetGuid();
        async Task<Guid> Doc(object fields)
        {
            using var r = await UploadAsync(typeId, fields);
            await r.ShouldHaveStatusAsync(HttpStatusCode.Created);
            return (await r.JsonAsync()).GetProperty("id").GetGuid();
        }
        var a = await Doc(new { amount = 10, labels = new[] { "urgent", "disputed" }, currency = "USD" });
        var b = await Doc(new { amount = 20, labels = new[] { "disputed" }, paid = true });
        var c = await Doc(new { amount = 30 });

        async Task<Guid[]> Ids(string query)
        {
            using var r = await Tenant.Admin.Client.GetAsync($"/api/v1/documents?typeId={typeId}&{query}");
            await r.ShouldHaveStatusAsync(HttpStatusCode.OK);
            return [.. (await r.JsonAsync()).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid())];
        }
        (await Ids("f.labels=disputed")).ShouldBe([a, b], ignoreOrder: true);
        (await Ids("f.labels=urgent")).ShouldBe([a]);
        (await Ids("f.paid=true")).ShouldBe([b]);
        (await Ids("f.paid=false")).ShouldBe([a, c], ignoreOrder: true);
        (await Ids("f.currency=USD")).ShouldBe([a]);
        (await Ids("f.amount=20")).ShouldBe([b]);
        (await Ids("f.amount.gte=15&f.amount.lte=30&sort=f.amount&order=desc")).ShouldBe([c, b]);
        (await Ids("sort=f.amount")).ShouldBe([a, b, c]);
        (await Ids("")).ShouldBe([a, b, c], ignoreOrder: true);
    }

    /// <summary>
    /// The contract's "must show": a date-range filter and a sort by a date field across 10,000 documents, paged with
    /// cursors in both directions, equal to the order computed here (ties on a date broken by id; documents without a
    /// date last). The rows are inserted in SQL as the owner under the tenant's setting; the trigger fills the field table.
    /// </summary>
    [Fact]
    public async Task Filter_and_sort_by_a_date_field_across_10000_documents_page_correctly_with_cursors()
    {
        var typeId = (await CreateTypeAsync()).GetProperty("id").GetGuid();
        const int count = 10_000;
        await using (var owner = new NpgsqlConnection(Tenant.App.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var tx = await owner.BeginTransactionAsync();
            await Db.EnterTenantAsync(owner, tx, Tenant.Id, CancellationToken.None);
            // 1 in 10 has no date; dates repeat (every date ~27 times) so ties are broken by id across page boundaries.
            await owner.ExecuteAsync(new CommandDefinition("""
                WITH docs AS (
                  INSERT INTO documents (id, tenant_id, workspace_id, title, tags, current_version, content_family, created_by, updated_by, type_id, fields)
                  SELECT gen_random_uuid(), @tenant, @workspace, 'dated ' || g, '{}', 1, 'text', @admin, @admin, @type,
                         jsonb_build_object('amount', g) || CASE WHEN g % 10 = 0 THEN '{}'::jsonb
                           ELSE jsonb_build_object('due', to_char(date '2026-01-01' + (g * 7919 % 365), 'YYYY-MM-DD')) END
                  FROM generate_series(1, @count) g
                  RETURNING id)
                INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
                SELECT gen_random_uuid(), @tenant, docs.id, 1, @tenant || '/' || docs.id || '/1', 1, repeat('a', 64), 'text/plain', 'seeded.txt', @admin FROM docs
                """, new { tenant = Tenant.Id, workspace = Tenant.DefaultWorkspaceId, admin = Tenant.Admin.UserId, type = typeId, count }, tx, 300));
            await tx.CommitAsync();
        }
        var all = new List<(Guid Id, string? Due)>();
        await using (var owner = new NpgsqlConnection(Tenant.App.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var tx = await owner.BeginTransactionAsync();
            await Db.EnterTenantAsync(owner, tx, Tenant.Id, CancellationToken.None);
            all = [.. await owner.QueryAsync<(Guid, string?)>(new CommandDefinition(
                "SELECT id, fields->>'due' FROM documents WHERE tenant_id = @tenant AND type_id = @type", new { tenant = Tenant.Id, type = typeId }, tx))];
        }
        all.Count.ShouldBe(count);

        // Ascending, whole set: values by (date, id), then no-date documents by id. Guid order as PostgreSQL compares uuids (bytes as text).
        static string U(Guid g) => g.ToString("N");
        var ascending = all.Where(d => d.Due is not null).OrderBy(d => d.Due, StringComparer.Ordinal).ThenBy(d => U(d.Id), StringComparer.Ordinal)
            .Concat(all.Where(d => d.Due is null).OrderBy(d => U(d.Id), StringComparer.Ordinal)).Select(d => d.Id).ToList();
        (await PageAllAsync($"typeId={typeId}&sort=f.due&order=asc", 200)).ShouldBe(ascending);

        var descending = all.Where(d => d.Due is not null).OrderByDescending(d => d.Due, StringComparer.Ordinal).ThenByDescending(d => U(d.Id), StringComparer.Ordinal)
            .Concat(all.Where(d => d.Due is null).OrderByDescending(d => U(d.Id), StringComparer.Ordinal)).Select(d => d.Id).ToList();
        (await PageAllAsync($"typeId={typeId}&sort=f.due&order=desc", 199)).ShouldBe(descending);

        // A date range: only documents with a date inside it, in order; the range bounds are inclusive.
        var inRange = all.Where(d => d.Due is not null && string.CompareOrdinal(d.Due, "2026-03-01") >= 0 && string.CompareOrdinal(d.Due, "2026-06-30") <= 0)
            .OrderBy(d => d.Due, StringComparer.Ordinal).ThenBy(d => U(d.Id), StringComparer.Ordinal).Select(d => d.Id).ToList();
        inRange.Count.ShouldBeGreaterThan(2000);
        (await PageAllAsync($"typeId={typeId}&f.due.gte=2026-03-01&f.due.lte=2026-06-30&sort=f.due", 137)).ShouldBe(inRange);

        // A range with the default sort (newest first) finds the same set.
        (await PageAllAsync($"typeId={typeId}&f.due.gte=2026-03-01&f.due.lte=2026-06-30", 200)).ShouldBe(inRange, ignoreOrder: true);
    }

    private async Task<List<Guid>> PageAllAsync(string query, int limit)
    {
        var ids = new List<Guid>();
        string? cursor = null;
        for (var page = 0; page < 100; page++)
        {
            using var response = await Tenant.Admin.Client.GetAsync($"/api/v1/documents?{query}&limit={limit}{(cursor is null ? "" : $"&cursor={cursor}")}");
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await response.JsonAsync();
            ids.AddRange(body.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()));
            cursor = body.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
            if (cursor is null)
            {
                return ids;
            }
        }
        throw new ShouldAssertException("More than 100 pages.");
    }

    [Fact]
    public async Task Types_and_values_of_another_tenant_are_invisible()
    {
        var type = await CreateTypeAsync();
        var typeId = type.GetProperty("id").GetGuid();
        var other = await Tenant.App.CreateTenantAsync();
        using (var get = await other.Admin.Client.GetAsync($"/api/v1/document-types/{typeId}"))
        {
            await get.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document_type.not_found");
        }
        using (var list = await other.Admin.Client.GetAsync("/api/v1/document-types"))
        {
            (await list.JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0);
        }
        using (var patch = await other.Admin.Client.PatchAsJsonAsync($"/api/v1/document-types/{typeId}", new { name = "stolen" }))
        {
            await patch.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document_type.not_found");
        }
        using (var delete = await other.Admin.Client.DeleteAsync($"/api/v1/document-types/{typeId}"))
        {
            await delete.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document_type.not_found");
        }
        var form = Form(typeId, """{"amount":1}""");
        using (var upload = await other.Admin.Client.PostAsync("/api/v1/documents", form))
        {
            await upload.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.unknown_type");
        }
        using (var filter = await other.Admin.Client.GetAsync($"/api/v1/documents?typeId={typeId}&f.amount.gte=0"))
        {
            await filter.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "document.unknown_type");
        }
        // The same name is free in another tenant.
        using var same = await other.Admin.Client.PostAsJsonAsync("/api/v1/document-types", new { name = type.GetProperty("name").GetString() });
        await same.ShouldHaveStatusAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_member_lists_by_a_field_only_in_workspaces_they_may_read()
    {
        var typeId = (await CreateTypeAsync()).GetProperty("id").GetGuid();
        async Task<Guid> Workspace()
        {
            using var ws = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Typed {Guid.NewGuid():N}" });
            return (await ws.JsonAsync()).GetProperty("id").GetGuid();
        }
        var workspace = await Workspace();
        var elsewhere = await Workspace();
        var member = await Tenant.CreateUserAsync("Member");
        (await Tenant.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{workspace}/members", new { userId = member.UserId, role = "Viewer" })).EnsureSuccessStatusCode();
        var form = Form(typeId, """{"amount":3}""", workspace: workspace);
        using var visible = await Tenant.Admin.Client.PostAsync("/api/v1/documents", form);
        var visibleId = (await visible.JsonAsync()).GetProperty("id").GetGuid();
        using var hidden = await Tenant.Admin.Client.PostAsync("/api/v1/documents", Form(typeId, """{"amount":1}""", workspace: elsewhere));
        await hidden.ShouldHaveStatusAsync(HttpStatusCode.Created);

        using var list = await member.Client.GetAsync($"/api/v1/documents?typeId={typeId}&sort=f.amount");
        await list.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await list.JsonAsync()).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid()).ShouldBe([visibleId]);
    }

    [Fact]
    public async Task Adding_and_removing_fields_keeps_sorts_and_values_consistent()
    {
        var typeId = (await CreateTypeAsync(new { name = $"Evolving {Guid.NewGuid():N}", fields = new object[] { new { key = "a", label = "A", kind = "number" } } }))
            .GetProperty("id").GetGuid();
        using var one = await UploadAsync(typeId, new { a = 1 });
        var oneId = (await one.JsonAsync()).GetProperty("id").GetGuid();
        using (var changed = await Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/document-types/{typeId}",
                   new { fields = new object[] { new { key = "b", label = "B", kind = "date" } } }))
        {
            await changed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var get = await Tenant.Admin.Client.GetAsync($"/api/v1/documents/{oneId}");
        (await get.JsonAsync()).GetProperty("fields").EnumerateObject().ShouldBeEmpty("the removed field's value is gone");
        using var sorted = await Tenant.Admin.Client.GetAsync($"/api/v1/documents?typeId={typeId}&sort=f.b");
        (await sorted.JsonAsync()).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetGuid())
            .ShouldBe([oneId], "a document without a value for a new field still lists (last)");
    }
}
