using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Sharing;

/// <summary>
/// Share links (issue 16, item 8) through HTTP against the shared app: a link works before its expiry and is 410 after it
/// or after a revocation, a protected link is 401 without its password, exactly the limit succeed under 50 parallel
/// downloads, the public page shows the file's name and size and nothing about the tenant, a non-reader cannot share,
/// and another tenant cannot see or touch the links. Each test makes its own document (and, where it changes tenant
/// settings, its own tenant).
/// </summary>
public sealed class ShareLinkTests(TenantFixture f) : IClassFixture<TenantFixture>
{
    private TestTenant T => f.Tenant;

    internal static async Task<(Guid Id, byte[] Content, string FileName)> UploadAsync(SignedIn who, Guid? workspace = null, string? title = null)
    {
        var content = Uploads.Text($"shared content {Guid.NewGuid():N}");
        var fileName = $"quarterly-{Guid.NewGuid():N}"[..18] + ".txt";
        using var response = await who.Client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content, title ?? $"Internal title {Guid.NewGuid():N}", workspaceId: workspace));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return ((await response.JsonAsync()).GetProperty("id").GetGuid(), content, fileName);
    }

    internal static async Task<(Guid Id, string Url, string Token)> ShareAsync(SignedIn who, Guid documentId, object? body = null)
    {
        using var response = await who.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares",
            body ?? new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var json = await response.JsonAsync();
        var url = json.GetProperty("url").GetString()!;
        return (json.GetProperty("id").GetGuid(), url, url[(url.LastIndexOf('/') + 1)..]);
    }

    /// <summary>A visitor: no token, no cookie; asks for JSON so refusals come as problem+json.</summary>
    internal static HttpClient Visitor(DmsApp app)
    {
        var client = app.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    /// <summary>SQL as the schema owner inside <paramref name="tenant"/> (row-level security is forced: the owner sees a tenant's rows only there).</summary>
    internal static async Task OwnerExecuteAsync(DmsApp app, Guid tenant, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = await OwnerAsync(app, tenant);
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        await cmd.ExecuteNonQueryAsync();
    }

    internal static async Task<T> OwnerScalarAsync<T>(DmsApp app, Guid tenant, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = await OwnerAsync(app, tenant);
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<NpgsqlConnection> OwnerAsync(DmsApp app, Guid tenant)
    {
        var conn = new NpgsqlConnection(app.OwnerConnectionString);
        await conn.OpenAsync();
        await using var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant}', false)", conn);
        await set.ExecuteNonQueryAsync();
        return conn;
    }

    [Fact]
    public async Task A_link_serves_its_version_before_expiry_and_the_token_is_random_and_stored_hashed()
    {
        var (documentId, content, fileName) = await UploadAsync(T.Admin);
        var (shareId, url, token) = await ShareAsync(T.Admin, documentId);
        url.ShouldEndWith($"/s/{token}");
        token.Length.ShouldBe(43, "256 random bits, base64url");

        using var visitor = Visitor(T.App);
        using var page = await visitor.GetAsync($"/s/{token}");
        await page.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var html = await page.Content.ReadAsStringAsync();
        html.ShouldContain(fileName);
        html.ShouldContain($"{content.Length} B");
        page.Headers.GetValues("Referrer-Policy").ShouldContain("no-referrer");

        using var download = await visitor.GetAsync($"/s/{token}/download");
        await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(content);

        (await OwnerScalarAsync<long>(T.App, T.Id, "SELECT count(*) FROM share_links WHERE id = @id AND position(convert_to(@token, 'UTF8') IN token_hash) = 0 AND downloads = 1",
            ("id", shareId), ("token", token))).ShouldBe(1L, "the token itself is not stored; one download counted");
        (await OwnerScalarAsync<long>(T.App, T.Id, "SELECT count(*) FROM audit_events WHERE tenant_id = @tenant AND action = 'share.accessed' AND data ->> 'shareId' = @id AND actor_type = 'anonymous'",
            ("tenant", T.Id), ("id", shareId.ToString()))).ShouldBe(2L, "the page view and the download are both audited");

        // A new version later does not change what the link serves: it shares one version.
        using var list = await T.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/shares");
        await list.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var item = (await list.JsonAsync()).GetProperty("items").EnumerateArray().Single();
        item.GetProperty("version").GetInt32().ShouldBe(1);
        item.GetProperty("downloads").GetInt32().ShouldBe(1);
        item.GetProperty("status").GetString().ShouldBe("Active");
        item.TryGetProperty("token", out _).ShouldBeFalse();
        item.TryGetProperty("url", out _).ShouldBeFalse();
    }

    [Fact]
    public async Task An_expired_link_is_410_and_so_is_a_revoked_one()
    {
        var (documentId, _, _) = await UploadAsync(T.Admin);
        var (expiredId, _, expired) = await ShareAsync(T.Admin, documentId);
        var (revokedId, _, revoked) = await ShareAsync(T.Admin, documentId);
        using var visitor = Visitor(T.App);
        (await visitor.GetAsync($"/s/{expired}/download")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await OwnerExecuteAsync(T.App, T.Id, "UPDATE share_links SET expires_at = now() - interval '1 second' WHERE id = @id", ("id", expiredId));
        using (var gone = await visitor.GetAsync($"/s/{expired}/download"))
        {
            await gone.ShouldBeProblemAsync(HttpStatusCode.Gone, "share.expired");
        }
        using (var page = await visitor.GetAsync($"/s/{expired}"))
        {
            page.StatusCode.ShouldBe(HttpStatusCode.Gone);
            (await page.Content.ReadAsStringAsync()).ShouldContain("expired");
        }

        using (var revoke = await T.Admin.Client.DeleteAsync($"/api/v1/shares/{revokedId}"))
        {
            await revoke.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        using (var gone = await visitor.GetAsync($"/s/{revoked}/download"))
        {
            await gone.ShouldBeProblemAsync(HttpStatusCode.Gone, "share.revoked");
        }
        (await visitor.GetAsync($"/s/{revoked}")).StatusCode.ShouldBe(HttpStatusCode.Gone);
        (await visitor.GetAsync($"/s/{new string('A', 43)}/download")).StatusCode.ShouldBe(HttpStatusCode.NotFound, "an unknown token");
        (await visitor.GetAsync("/s/not-a-token")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await OwnerScalarAsync<long>(T.App, T.Id, "SELECT count(*) FROM audit_events WHERE tenant_id = @tenant AND action = 'share.revoked' AND data ->> 'shareId' = @id",
            ("tenant", T.Id), ("id", revokedId.ToString()))).ShouldBe(1L);
    }

    [Fact]
    public async Task A_protected_link_is_401_without_or_with_a_wrong_password_and_serves_with_the_right_one()
    {
        var (documentId, content, _) = await UploadAsync(T.Admin);
        var (shareId, _, token) = await ShareAsync(T.Admin, documentId, new { expiresAt = DateTimeOffset.UtcNow.AddHours(1), password = "open sesame 42" });
        using var visitor = Visitor(T.App);

        var page = await (await visitor.GetAsync($"/s/{token}")).Content.ReadAsStringAsync();
        page.ShouldContain("name=\"password\"");

        using (var none = await visitor.GetAsync($"/s/{token}/download"))
        {
            await none.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "share.password_required");
        }
        using (var empty = await visitor.PostAsync($"/s/{token}/download", new FormUrlEncodedContent(new Dictionary<string, string>())))
        {
            await empty.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "share.password_required");
        }
        using (var wrong = await visitor.PostAsync($"/s/{token}/download", new FormUrlEncodedContent(new Dictionary<string, string> { ["password"] = "open sesame 43" })))
        {
            await wrong.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "share.password_wrong");
        }
        using (var right = await visitor.PostAsync($"/s/{token}/download", new FormUrlEncodedContent(new Dictionary<string, string> { ["password"] = "open sesame 42" })))
        {
            await right.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await right.Content.ReadAsByteArrayAsync()).ShouldBe(content);
        }
        (await OwnerScalarAsync<string>(T.App, T.Id, "SELECT password_hash FROM share_links WHERE id = @id", ("id", shareId))).ShouldNotContain("open sesame");
        (await OwnerScalarAsync<long>(T.App, T.Id, "SELECT count(*) FROM audit_events WHERE tenant_id = @tenant AND action = 'share.accessed' AND data ->> 'shareId' = @id AND data ->> 'outcome' LIKE 'password_%'",
            ("tenant", T.Id), ("id", shareId.ToString()))).ShouldBe(3L, "refused attempts are audited too");

        // A browser's form post gets a page in plain words, still 401.
        using var browser = T.App.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/s/{token}/download") { Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["password"] = "nope nope nope" }) };
        request.Headers.Accept.ParseAdd("text/html");
        using var html = await browser.SendAsync(request);
        html.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await html.Content.ReadAsStringAsync()).ShouldContain("data-code=\"share.password_wrong\"");
    }

    [Fact]
    public async Task Exactly_the_download_limit_succeeds_under_50_parallel_downloads()
    {
        const int limit = 7;
        var (documentId, content, _) = await UploadAsync(T.Admin);
        var (shareId, _, token) = await ShareAsync(T.Admin, documentId, new { expiresAt = DateTimeOffset.UtcNow.AddHours(1), maxDownloads = limit });

        using var start = new SemaphoreSlim(0);
        var calls = Enumerable.Range(0, 50).Select(async _ =>
        {
            using var visitor = Visitor(T.App);
            await start.WaitAsync();
            using var response = await visitor.GetAsync($"/s/{token}/download");
            return (response.StatusCode, Body: await response.Content.ReadAsByteArrayAsync());
        }).ToList();
        start.Release(50);
        var answers = await Task.WhenAll(calls);

        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(limit);
        answers.Where(a => a.StatusCode == HttpStatusCode.OK).ShouldAllBe(a => a.Body.SequenceEqual(content));
        answers.Where(a => a.StatusCode != HttpStatusCode.OK).Select(a => a.StatusCode).Distinct().ShouldBe([HttpStatusCode.Gone]);
        (await OwnerScalarAsync<int>(T.App, T.Id, "SELECT downloads FROM share_links WHERE id = @id", ("id", shareId))).ShouldBe(limit);
        (await OwnerScalarAsync<long>(T.App, T.Id, "SELECT count(*) FROM audit_events WHERE tenant_id = @tenant AND action = 'share.accessed' AND data ->> 'shareId' = @id AND data ->> 'outcome' = 'allowed'",
            ("tenant", T.Id), ("id", shareId.ToString()))).ShouldBe((long)limit);
        using var after = await Visitor(T.App).GetAsync($"/s/{token}/download");
        await after.ShouldBeProblemAsync(HttpStatusCode.Gone, "share.used_up");
    }

    [Fact]
    public async Task The_public_page_reveals_nothing_about_the_tenant()
    {
        var member = await T.CreateUserAsync("Member");
        var title = $"Board minutes {Guid.NewGuid():N}";
        var (documentId, _, fileName) = await UploadAsync(member, T.DefaultWorkspaceId, title);
        var (_, _, token) = await ShareAsync(member, documentId);
        using var workspace = await T.Admin.Client.GetAsync($"/api/v1/workspaces/{T.DefaultWorkspaceId}");
        var workspaceName = (await workspace.JsonAsync()).GetProperty("name").GetString()!;

        // Even a visitor who holds a session in the tenant sees the bare page.
        var signedIn = await T.SignInToUiAsync(member);
        foreach (var client in new[] { Visitor(T.App), signedIn })
        {
            using var page = await client.GetAsync($"/s/{token}");
            await page.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var html = await page.Content.ReadAsStringAsync();
            html.ShouldContain(fileName);
            foreach (var secret in new[] { T.Slug, $"Tenant {T.Slug}", T.Id.ToString(), member.Email, member.UserId.ToString(), T.Admin.Email, title, workspaceName,
                         T.DefaultWorkspaceId.ToString(), documentId.ToString(), "/documents" })
            {
                html.ShouldNotContain(secret, Case.Insensitive, $"the public page shows {secret}");
            }
        }
    }

    [Fact]
    public async Task A_non_reader_cannot_share_and_only_the_creator_or_an_admin_revokes()
    {
        using var created = await T.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Closed {Guid.NewGuid():N}" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var closed = (await created.JsonAsync()).GetProperty("id").GetGuid();
        var (secretDoc, _, _) = await UploadAsync(T.Admin, closed);
        var outsider = await T.CreateUserAsync("Member");
        using (var refused = await outsider.Client.PostAsJsonAsync($"/api/v1/documents/{secretDoc}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) }))
        {
            await refused.ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        }
        (await outsider.Client.GetAsync($"/api/v1/documents/{secretDoc}/shares")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var (adminsShare, _, _) = await ShareAsync(T.Admin, secretDoc);
        (await outsider.Client.DeleteAsync($"/api/v1/shares/{adminsShare}")).StatusCode.ShouldBe(HttpStatusCode.NotFound, "a link to an unreadable document does not exist for them");
        (await OwnerScalarAsync<long>(T.App, T.Id, "SELECT count(*) FROM share_links WHERE document_id = @id", ("id", secretDoc))).ShouldBe(1L);

        // In the default workspace both members read: one shares, the other may not revoke it; an admin may.
        var (doc, _, _) = await UploadAsync(T.Admin, T.DefaultWorkspaceId);
        var (share, _, _) = await ShareAsync(outsider, doc);
        var colleague = await T.CreateUserAsync("Member");
        using (var notYours = await colleague.Client.DeleteAsync($"/api/v1/shares/{share}"))
        {
            await notYours.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "share.not_yours");
        }
        (await T.Admin.Client.DeleteAsync($"/api/v1/shares/{share}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task Expiry_is_required_and_bounded_by_the_tenant_maximum()
    {
        var (documentId, _, _) = await UploadAsync(T.Admin);
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { }, "expiresAt"),
                     (new { expiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) }, "expiresAt"),
                     (new { expiresAt = DateTimeOffset.UtcNow.AddDays(31) }, "expiresAt"),
                     (new { expiresAt = DateTimeOffset.UtcNow.AddDays(1), password = "short" }, "password"),
                     (new { expiresAt = DateTimeOffset.UtcNow.AddDays(1), maxDownloads = 0 }, "maxDownloads"),
                     (new { expiresAt = DateTimeOffset.UtcNow.AddDays(1), version = 9 }, ""),
                 })
        {
            using var response = await T.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares", body);
            if (field.Length == 0)
            {
                await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "version.not_found");
                continue;
            }
            var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
            problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue($"{JsonSerializer.Serialize(body)} names {field}");
        }
        using var malformed = await T.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/shares", new StringContent("{\"expiresAt\": 12", System.Text.Encoding.UTF8, "application/json"));
        malformed.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Turning_sharing_off_refuses_new_links_and_stops_existing_ones_until_it_is_on_again()
    {
        var tenant = await T.App.CreateTenantAsync();
        var (documentId, _, _) = await UploadAsync(tenant.Admin);
        var (_, _, token) = await ShareAsync(tenant.Admin, documentId);
        using var visitor = Visitor(T.App);

        using (var off = await tenant.Admin.Client.PutAsJsonAsync("/api/v1/admin/share-settings", new { enabled = false }))
        {
            await off.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await off.JsonAsync()).GetProperty("enabled").GetBoolean().ShouldBeFalse();
        }
        using (var refused = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) }))
        {
            await refused.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "share.disabled");
        }
        using (var stopped = await visitor.GetAsync($"/s/{token}/download"))
        {
            await stopped.ShouldBeProblemAsync(HttpStatusCode.Gone, "share.unavailable");
        }
        (await visitor.GetAsync($"/s/{token}")).StatusCode.ShouldBe(HttpStatusCode.Gone);

        using (var on = await tenant.Admin.Client.PutAsJsonAsync("/api/v1/admin/share-settings", new { enabled = true, maxDays = 2 }))
        {
            await on.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await visitor.GetAsync($"/s/{token}/download")).StatusCode.ShouldBe(HttpStatusCode.OK);
        using (var tooLong = await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(3) }))
        {
            await tooLong.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        }
        var member = await tenant.CreateUserAsync("Member");
        (await member.Client.PutAsJsonAsync("/api/v1/admin/share-settings", new { enabled = false })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Another_tenant_cannot_see_revoke_or_share_the_links()
    {
        var (documentId, _, _) = await UploadAsync(T.Admin);
        var (shareId, _, token) = await ShareAsync(T.Admin, documentId);
        var other = await T.App.CreateTenantAsync();

        (await other.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/shares")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await other.Admin.Client.DeleteAsync($"/api/v1/shares/{shareId}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await other.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) }))
            .StatusCode.ShouldBe(HttpStatusCode.NotFound);
        // The runtime role sees the link only inside its own tenant, and the lookup function tells nothing but tenant and id.
        await using (var conn = new NpgsqlConnection(T.App.AppConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM share_links", conn);
            ((long)(await cmd.ExecuteScalarAsync())!).ShouldBe(0L, "no tenant setting, no rows");
            await using var guarded = new NpgsqlCommand("SELECT count(*) FROM share_link_tokens", conn);
            (await Should.ThrowAsync<PostgresException>(() => guarded.ExecuteScalarAsync())).SqlState.ShouldBe("42501", "the token table is out of the runtime role's reach");
            await using var lookup = new NpgsqlCommand("SELECT count(*) FROM share_link_lookup(@hash)", conn);
            lookup.Parameters.AddWithValue("hash", System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(token)));
            ((long)(await lookup.ExecuteScalarAsync())!).ShouldBe(1L, "the lookup answers by the token's hash alone");
        }
        (await Visitor(T.App).GetAsync($"/s/{token}/download")).StatusCode.ShouldBe(HttpStatusCode.OK, "the link itself still works");
    }

    [Fact]
    public async Task The_document_page_leads_to_the_share_page_which_makes_a_link_a_fresh_visitor_can_open_and_revokes_it()
    {
        var member = await T.CreateUserAsync("Member");
        var (documentId, content, fileName) = await UploadAsync(member, T.DefaultWorkspaceId);
        var ui = await T.SignInToUiAsync(member);
        (await ui.GetStringAsync($"/documents/{documentId}")).ShouldContain($"href=\"/documents/{documentId}/shares\"");

        var form = await ui.GetStringAsync($"/documents/{documentId}/shares");
        using var created = await ui.PostFormAsync($"/documents/{documentId}/shares?handler=Create", form, new Dictionary<string, string>
        {
            ["Create.Days"] = "3",
            ["Create.Password"] = "",
            ["Create.MaxDownloads"] = "",
        });
        await created.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var html = await created.Content.ReadAsStringAsync();
        var url = System.Text.RegularExpressions.Regex.Match(html, "data-testid=\"share-url\"[^>]*value=\"([^\"]+)\"|value=\"([^\"]+)\"[^>]*data-testid=\"share-url\"");
        url.Success.ShouldBeTrue(html);
        var address = new Uri(url.Groups[1].Success ? url.Groups[1].Value : url.Groups[2].Value);

        using var visitor = Visitor(T.App);
        (await (await visitor.GetAsync(address.PathAndQuery)).Content.ReadAsStringAsync()).ShouldContain(fileName);
        (await (await visitor.GetAsync($"{address.PathAndQuery}/download")).Content.ReadAsByteArrayAsync()).ShouldBe(content);

        var list = await ui.GetStringAsync($"/documents/{documentId}/shares");
        var shareId = (await (await member.Client.GetAsync($"/api/v1/documents/{documentId}/shares")).JsonAsync()).GetProperty("items")[0].GetProperty("id").GetGuid();
        using var revoked = await ui.PostFormAsync($"/documents/{documentId}/shares?handler=Revoke&shareId={shareId}", list, []);
        revoked.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await visitor.GetAsync($"{address.PathAndQuery}/download")).StatusCode.ShouldBe(HttpStatusCode.Gone);
    }
}
