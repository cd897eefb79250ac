using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Views;

/// <summary>
/// Saved views over HTTP (issue 16 item 2): create, list, get, change, delete; private views exist for their owner only; shared
/// ones for the tenant, changed by their owner only; pins are per user; a bad query is refused when saved with the list's own
/// code; counts never include what the caller cannot read. One tenant for the class (<see cref="TenantFixture"/>).
/// </summary>
public sealed class SavedViewTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    private TestTenant Tenant => f.Tenant;

    internal static async Task<JsonElement> CreateAsync(SignedIn who, object body)
    {
        using var response = await who.Client.PostAsJsonAsync("/api/v1/views", body);
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var view = await response.JsonAsync();
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/views/{view.GetProperty("id").GetGuid()}");
        return view;
    }

    private static async Task<List<JsonElement>> ListAsync(SignedIn who)
    {
        using var response = await who.Client.GetAsync("/api/v1/views");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return [.. (await response.JsonAsync()).GetProperty("items").EnumerateArray()];
    }

    private static async Task<JsonElement> CountAsync(SignedIn who, Guid viewId)
    {
        using var response = await who.Client.GetAsync($"/api/v1/views/{viewId}/count");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    private async Task<long> AuditCountAsync(Guid viewId, string action)
    {
        await using var c = new NpgsqlConnection(Tenant.App.OwnerConnectionString);
        await c.OpenAsync();
        // FORCE ROW LEVEL SECURITY holds the owner too: without the tenant's setting every count would be a vacuous 0.
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', false)", c))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM audit_events WHERE tenant_id = @t AND entity_id = @id AND action = @action", c);
        cmd.Parameters.AddWithValue("t", Tenant.Id);
        cmd.Parameters.AddWithValue("id", viewId.ToString());
        cmd.Parameters.AddWithValue("action", action);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_view_is_created_listed_read_changed_and_deleted_by_its_owner()
    {
        var owner = await Tenant.CreateUserAsync("Member");
        var name = Unique("Invoices");
        var created = await CreateAsync(owner, new
        {
            name = $"  {name}  ",
            query = new Dictionary<string, object> { ["tag"] = "invoice", ["Status"] = "active", ["sort"] = "title", ["order"] = "asc", ["limit"] = 10 },
            columns = new[] { "title", "Tags", "fields.due_date" },
            shared = false,
            pinned = true,
        });
        var id = created.GetProperty("id").GetGuid();
        created.GetProperty("name").GetString().ShouldBe(name, "trimmed");
        var query = created.GetProperty("query");
        query.GetProperty("tag").GetString().ShouldBe("invoice");
        query.GetProperty("status").GetString().ShouldBe("active", "parameter names are stored as the list spells them");
        query.GetProperty("limit").GetString().ShouldBe("10");
        created.GetProperty("columns").EnumerateArray().Select(c => c.GetString()).ShouldBe(["title", "tags", "fields.due_date"]);
        created.GetProperty("shared").GetBoolean().ShouldBeFalse();
        created.GetProperty("pinned").GetBoolean().ShouldBeTrue();
        created.GetProperty("owner").GetProperty("id").GetGuid().ShouldBe(owner.UserId);
        created.GetProperty("owner").GetProperty("email").GetString().ShouldBe(owner.Email);
        created.GetProperty("mine").GetBoolean().ShouldBeTrue();
        created.GetProperty("canEdit").GetBoolean().ShouldBeTrue();
        created.GetProperty("createdAt").GetDateTime().ShouldBeGreaterThan(DateTime.UtcNow.AddMinutes(-5));

        (await ListAsync(owner)).Select(v => v.GetProperty("id").GetGuid()).ShouldContain(id);
        using (var got = await owner.Client.GetAsync($"/api/v1/views/{id}"))
        {
            await got.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await got.JsonAsync()).GetProperty("name").GetString().ShouldBe(name);
        }

        using (var patched = await owner.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { name = name + "x", query = new { tag = "receipt" }, pinned = false }))
        {
            await patched.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var after = await patched.JsonAsync();
            after.GetProperty("name").GetString().ShouldBe(name + "x");
            after.GetProperty("query").EnumerateObject().Select(p => p.Name).ShouldBe(["tag"], "a new query replaces the old one whole");
            after.GetProperty("pinned").GetBoolean().ShouldBeFalse();
            after.GetProperty("columns").GetArrayLength().ShouldBe(3, "what the change does not name stays");
        }
        (await AuditCountAsync(id, "view.created")).ShouldBe(0, "a private view is nobody else's business");

        using (var deleted = await owner.Client.DeleteAsync($"/api/v1/views/{id}"))
        {
            await deleted.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        using (var gone = await owner.Client.GetAsync($"/api/v1/views/{id}"))
        {
            await gone.ShouldBeProblemAsync(HttpStatusCode.NotFound, "view.not_found");
        }
    }

    [Fact]
    public async Task A_private_view_does_not_exist_for_anyone_else_not_even_an_admin()
    {
        var owner = await Tenant.CreateUserAsync("Member");
        var other = await Tenant.CreateUserAsync("Member");
        var view = await CreateAsync(owner, new { name = Unique("Mine"), query = new { tag = "secret" } });
        var id = view.GetProperty("id").GetGuid();

        foreach (var who in new[] { other, Tenant.Admin })
        {
            (await ListAsync(who)).Select(v => v.GetProperty("id").GetGuid()).ShouldNotContain(id);
            using (var get = await who.Client.GetAsync($"/api/v1/views/{id}"))
            {
                await get.ShouldBeProblemAsync(HttpStatusCode.NotFound, "view.not_found");
            }
            using (var count = await who.Client.GetAsync($"/api/v1/views/{id}/count"))
            {
                await count.ShouldBeProblemAsync(HttpStatusCode.NotFound, "view.not_found");
            }
            using (var pin = await who.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { pinned = true }))
            {
                await pin.ShouldBeProblemAsync(HttpStatusCode.NotFound, "view.not_found");
            }
            using (var delete = await who.Client.DeleteAsync($"/api/v1/views/{id}"))
            {
                await delete.ShouldBeProblemAsync(HttpStatusCode.NotFound, "view.not_found");
            }
        }
        (await ListAsync(owner)).Select(v => v.GetProperty("id").GetGuid()).ShouldContain(id, "nothing above touched it");
    }

    [Fact]
    public async Task A_shared_view_is_seen_and_pinned_by_others_changed_by_its_owner_only_deleted_by_an_admin_and_audited()
    {
        var owner = await Tenant.CreateUserAsync("Member");
        var other = await Tenant.CreateUserAsync("Member");
        var view = await CreateAsync(owner, new { name = Unique("Team"), query = new { tag = "team" }, shared = true });
        var id = view.GetProperty("id").GetGuid();
        (await AuditCountAsync(id, "view.created")).ShouldBe(1);

        var seen = (await ListAsync(other)).Single(v => v.GetProperty("id").GetGuid() == id);
        seen.GetProperty("mine").GetBoolean().ShouldBeFalse();
        seen.GetProperty("canEdit").GetBoolean().ShouldBeFalse();
        seen.GetProperty("pinned").GetBoolean().ShouldBeFalse();

        using (var rename = await other.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { name = "hijacked" }))
        {
            await rename.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "view.not_owner");
        }
        using (var pin = await other.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { pinned = true }))
        {
            await pin.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await pin.JsonAsync()).GetProperty("pinned").GetBoolean().ShouldBeTrue();
        }
        (await ListAsync(owner)).Single(v => v.GetProperty("id").GetGuid() == id).GetProperty("pinned").GetBoolean()
            .ShouldBeFalse("a pin is the pinner's own");
        using (var delete = await other.Client.DeleteAsync($"/api/v1/views/{id}"))
        {
            await delete.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "view.not_owner");
        }

        using (var edit = await owner.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { columns = new[] { "title", "status" } }))
        {
            await edit.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await AuditCountAsync(id, "view.updated")).ShouldBe(1);

        // Made private again: it vanishes for the other user, pin and all.
        using (var unshare = await owner.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { shared = false }))
        {
            await unshare.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await ListAsync(other)).Select(v => v.GetProperty("id").GetGuid()).ShouldNotContain(id);
        using (var reshare = await owner.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { shared = true }))
        {
            await reshare.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await ListAsync(other)).Single(v => v.GetProperty("id").GetGuid() == id).GetProperty("pinned").GetBoolean()
            .ShouldBeFalse("the pin went when the view stopped being shared");

        using (var moderated = await Tenant.Admin.Client.DeleteAsync($"/api/v1/views/{id}"))
        {
            await moderated.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        (await AuditCountAsync(id, "view.deleted")).ShouldBe(1);
        (await ListAsync(owner)).Select(v => v.GetProperty("id").GetGuid()).ShouldNotContain(id);
    }

    [Fact]
    public async Task Names_are_unique_per_owner_in_any_letter_case_and_columns_come_from_the_fixed_set()
    {
        var owner = await Tenant.CreateUserAsync("Member");
        var other = await Tenant.CreateUserAsync("Member");
        var name = Unique("Dup");
        await CreateAsync(owner, new { name });
        using (var dup = await owner.Client.PostAsJsonAsync("/api/v1/views", new { name = name.ToUpperInvariant() }))
        {
            await dup.ShouldBeProblemAsync(HttpStatusCode.Conflict, "view.name_taken");
        }
        (await CreateAsync(other, new { name })).GetProperty("columns").GetArrayLength().ShouldBe(6, "another owner may use it; no columns → the list's own");

        foreach (var body in new object[]
        {
            new { name = "" },
            new { name = new string('n', 101) },
            new { name = "bad\u0001name" },
            new { name = "x", columns = new[] { "password" } },
            new { name = "x", columns = Array.Empty<string>() },
            new { name = "x", columns = new[] { "fields.bad key" } },
        })
        {
            using var bad = await owner.Client.PostAsJsonAsync("/api/v1/views", body);
            await bad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        using (var notObject = await owner.Client.PostAsJsonAsync("/api/v1/views", new[] { 1 }))
        {
            await notObject.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        }
        using (var badKind = await owner.Client.PostAsJsonAsync("/api/v1/views", new { name = "x", shared = "yes" }))
        {
            (await badKind.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed")).GetProperty("errors").TryGetProperty("shared", out _).ShouldBeTrue();
        }
    }

    [Fact]
    public async Task A_bad_query_is_refused_when_saved_with_the_lists_own_code()
    {
        var owner = await Tenant.CreateUserAsync("Member");

        async Task<JsonElement> RefusedAsync(object query, HttpStatusCode status, string code)
        {
            using var response = await owner.Client.PostAsJsonAsync("/api/v1/views", new { name = Unique("Bad"), query });
            return await response.ShouldBeProblemAsync(status, code);
        }

        // The names: the list parameters only.
        (await RefusedAsync(new { colour = "red" }, HttpStatusCode.BadRequest, "validation.failed")).GetProperty("errors").TryGetProperty("colour", out _).ShouldBeTrue();
        (await RefusedAsync(new { cursor = "abc" }, HttpStatusCode.BadRequest, "validation.failed")).GetProperty("errors").TryGetProperty("cursor", out _).ShouldBeTrue();
        // The values: whatever GET /documents answers for the same parameters.
        foreach (var (query, parameter) in new (object Query, string Parameter)[]
        {
            (new { status = "Shredded" }, "status=Shredded"),
            (new { type = "movie" }, "type=movie"),
            (new { sort = "colour" }, "sort=colour"),
            (new { limit = "500" }, "limit=500"),
            (new { sort = "relevance" }, "sort=relevance"),
        })
        {
            using var list = await owner.Client.GetAsync($"/api/v1/documents?{parameter}");
            list.StatusCode.ShouldBe(HttpStatusCode.BadRequest, parameter);
            var listCode = (await list.JsonAsync()).GetProperty("code").GetString()!;
            await RefusedAsync(query, HttpStatusCode.BadRequest, listCode);
        }
        using (var list = await owner.Client.GetAsync("/api/v1/documents?workspaceId=not-a-guid"))
        {
            var listCode = (await list.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("code").GetString()!;
            await RefusedAsync(new { workspaceId = "not-a-guid" }, HttpStatusCode.BadRequest, listCode);
        }
        // A change is judged the same way.
        var view = await CreateAsync(owner, new { name = Unique("Good"), query = new { tag = "ok" } });
        using (var patched = await owner.Client.PatchAsJsonAsync($"/api/v1/views/{view.GetProperty("id").GetGuid()}", new { query = new { status = "Shredded" } }))
        {
            await patched.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
    }

    [Fact]
    public async Task A_count_is_only_of_documents_the_caller_can_read()
    {
        var admin = Tenant.Admin.Client;
        var tag = Unique("cnt").ToLowerInvariant();
        async Task<Guid> WorkspaceAsync(string name)
        {
            using var ws = await admin.PostAsJsonAsync("/api/v1/workspaces", new { name = $"{name} {Guid.NewGuid():N}" });
            await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
            return (await ws.JsonAsync()).GetProperty("id").GetGuid();
        }
        var readable = await WorkspaceAsync("Readable");
        var hidden = await WorkspaceAsync("Hidden");
        foreach (var (workspace, n) in new[] { (readable, 3), (hidden, 2) })
        {
            for (var i = 0; i < n; i++)
            {
                using var upload = await admin.PostAsync("/api/v1/documents", Uploads.Form($"c{i}.txt", Uploads.Text($"count {i}"), $"count {i}", tag, workspace));
                await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
            }
        }
        var member = await Tenant.CreateUserAsync("Member");
        using (var join = await admin.PostAsJsonAsync($"/api/v1/workspaces/{readable}/members", new { userId = member.UserId, role = "Viewer" }))
        {
            await join.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        var shared = await CreateAsync(Tenant.Admin, new { name = Unique("Tagged"), query = new { tag }, shared = true });
        var sharedId = shared.GetProperty("id").GetGuid();
        var adminCount = await CountAsync(Tenant.Admin, sharedId);
        adminCount.GetProperty("count").GetInt64().ShouldBe(5);
        adminCount.GetProperty("countCapped").GetBoolean().ShouldBeFalse();
        var memberCount = await CountAsync(member, sharedId);
        memberCount.GetProperty("count").GetInt64().ShouldBe(3, "the two in a workspace the member cannot read are not counted");

        // Naming the hidden workspace outright reveals nothing either.
        var probe = await CreateAsync(member, new { name = Unique("Probe"), query = new { tag, workspaceId = hidden.ToString() }, pinned = true });
        (await CountAsync(member, probe.GetProperty("id").GetGuid())).GetProperty("count").GetInt64().ShouldBe(0);
        // A search view counts through the search, under the same rule.
        var search = await CreateAsync(member, new { name = Unique("Search"), query = new { q = "count", tag }, pinned = true });
        (await CountAsync(member, search.GetProperty("id").GetGuid())).GetProperty("count").GetInt64().ShouldBe(3);

        // The home page: the member's pinned views with the same counts, and the shared one once pinned.
        using (var pin = await member.Client.PatchAsJsonAsync($"/api/v1/views/{sharedId}", new { pinned = true }))
        {
            await pin.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var home = await member.Client.GetAsync("/api/v1/home");
        await home.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var body = await home.JsonAsync();
        var pinned = body.GetProperty("pinned").EnumerateArray().ToDictionary(v => v.GetProperty("id").GetGuid(), v => v.GetProperty("count").GetInt64());
        pinned.Count.ShouldBe(3);
        pinned[sharedId].ShouldBe(3);
        pinned[probe.GetProperty("id").GetGuid()].ShouldBe(0);
        body.GetProperty("recent").EnumerateArray().Select(d => d.GetProperty("workspaceId").GetGuid()).ShouldNotContain(hidden);
    }

    [Fact]
    public async Task Another_tenants_views_do_not_exist_here()
    {
        var otherTenant = await Tenant.App.CreateTenantAsync();
        var theirs = await CreateAsync(otherTenant.Admin, new { name = Unique("Theirs"), query = new { tag = "x" }, shared = true });
        var id = theirs.GetProperty("id").GetGuid();
        (await ListAsync(Tenant.Admin)).Select(v => v.GetProperty("id").GetGuid()).ShouldNotContain(id);
        foreach (var request in new Func<Task<HttpResponseMessage>>[]
        {
            () => Tenant.Admin.Client.GetAsync($"/api/v1/views/{id}"),
            () => Tenant.Admin.Client.GetAsync($"/api/v1/views/{id}/count"),
            () => Tenant.Admin.Client.PatchAsJsonAsync($"/api/v1/views/{id}", new { pinned = true }),
            () => Tenant.Admin.Client.DeleteAsync($"/api/v1/views/{id}"),
        })
        {
            using var response = await request();
            await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "view.not_found");
        }
        (await ListAsync(otherTenant.Admin)).Select(v => v.GetProperty("id").GetGuid()).ShouldContain(id);
    }
}
