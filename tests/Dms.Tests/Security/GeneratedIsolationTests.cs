using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Security;

/// <summary>
/// Every operation of the served OpenAPI document is called with the ids of things the caller must not reach:
/// by an admin of another tenant, and by a member of the same tenant outside the workspace. Each answer must be
/// the very answer the caller gets for ids that exist nowhere (so it leaks nothing), never 2xx or 5xx, and the
/// owner's data must be unchanged afterwards. A new endpoint with an unknown kind of id fails the test until
/// it is added here.
/// </summary>
public sealed class GeneratedIsolationTests : IAsyncLifetime
{
    // Operations that take no tenant-owned id in path or body, or authenticate by something other than the
    // caller's sign-in; each is covered elsewhere as named.
    private static readonly Dictionary<string, string> NotIdAddressed = new()
    {
        ["POST /api/v1/auth/login"] = "AuthTests (tenant comes from the body; wrong tenant = invalid credentials)",
        ["POST /api/v1/auth/refresh"] = "TenantIsolationTests.A_refresh_token_names_its_tenant_and_cannot_be_replayed_as_another",
        ["POST /api/v1/auth/logout"] = "AbuseAndTokenTests.Logout_revokes_the_sign_in_and_never_reveals_anything",
        ["POST /api/v1/platform/tenants"] = "platform operator key, not a tenant sign-in",
        ["POST /api/v1/platform/plans"] = "platform operator key, not a tenant sign-in (PlanTests)",
        ["GET /api/v1/platform/plans"] = "platform operator key, not a tenant sign-in (PlanTests)",
        ["PUT /api/v1/platform/tenants/{slug}/plan"] = "platform operator key names the tenant by slug (PlanTests)",
        ["POST /api/v1/billing/webhook"] = "signed by the billing provider, names its tenant by slug (BillingWebhookTests)",
        ["PUT /api/v1/storage/objects"] = "signed URL bound to tenant and key: DirectUploadTests tamper test",
        ["GET /api/v1/storage/objects"] = "signed URL bound to tenant and key: DirectUploadTests tamper test",
        ["GET /s/{token}/download"] = "public: the token is the only credential and names its tenant (ShareLinkTests)",
        ["POST /s/{token}/download"] = "public: the token is the only credential and names its tenant (ShareLinkTests)",
    };

    // Lists any signed-in user of the tenant may read whatever their workspaces (policy editors pick groups from it): the
    // member outside the workspace sees the owner's group there by design; another tenant's admin never does.
    private static readonly HashSet<string> TenantWide = ["GET /api/v1/groups", "GET /api/v1/document-types"];

    // Read by id by every signed-in user of the tenant (document types are tenant-wide definitions): the same-tenant walk skips them.
    private static readonly HashSet<string> TenantWideById = ["GET /api/v1/document-types/{id}"];

    private DmsApp _app = null!;
    private TestTenant _owner = null!;
    private SignedIn _outsider = null!;
    private TestTenant _intruderTenant = null!;
    private Dictionary<string, Guid> _ids = null!;
    private readonly string _secret = $"owner-secret-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        _app = await DmsApp.GetAsync();
        _owner = await _app.CreateTenantAsync();
        _intruderTenant = await _app.CreateTenantAsync();
        var admin = _owner.Admin.Client;
        var secondAdmin = await _owner.CreateUserAsync("Admin");
        var member = await _owner.CreateUserAsync("Member");
        _outsider = await _owner.CreateUserAsync("Member");

        using var ws = await admin.PostAsJsonAsync("/api/v1/workspaces", new { name = _secret });
        var workspace = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        using (var add = await admin.PostAsJsonAsync($"/api/v1/workspaces/{workspace}/members", new { userId = member.UserId, role = "Contributor" }))
        {
            await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var folder = await admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId = workspace, name = _secret });
        var folderId = (await folder.JsonAsync()).GetProperty("id").GetGuid();
        using var doc = await member.Client.PostAsync("/api/v1/documents", Uploads.Form("plan.txt", Uploads.Text(_secret), _secret, _secret, folderId: folderId));
        await doc.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var document = (await doc.JsonAsync()).GetProperty("id").GetGuid();
        using var request = await member.Client.PostAsJsonAsync($"/api/v1/documents/{document}/delete-requests", new { reason = _secret });
        await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approval = (await request.JsonAsync()).GetProperty("id").GetGuid();
        using var upload = await admin.PostAsJsonAsync("/api/v1/uploads", new { fileName = "secret.txt", size = 5 });
        var uploadId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        using var token = await admin.PostAsJsonAsync("/api/v1/me/tokens", new { name = _secret, expiresAt = DateTime.UtcNow.AddDays(1) });
        var tokenId = (await token.JsonAsync()).GetProperty("id").GetGuid();

        await StoredState.SettleAsync(_app, _owner.Id);
        var notification = Guid.Empty;
        for (var i = 0; i < 300 && notification == Guid.Empty; i++)
        {
            var items = (await (await secondAdmin.Client.GetAsync("/api/v1/notifications")).JsonAsync()).GetProperty("items");
            notification = items.GetArrayLength() > 0 ? items[0].GetProperty("id").GetGuid() : Guid.Empty;
            await Task.Delay(notification == Guid.Empty ? 50 : 0);
        }
        notification.ShouldNotBe(Guid.Empty, "the second admin was told of the request");
        var outbox = await StoredState.InsertDeadMessageAsync(_app, _owner.Id);
        using var group = await admin.PostAsJsonAsync("/api/v1/groups", new { name = _secret });
        var groupId = (await group.JsonAsync()).GetProperty("id").GetGuid();
        using (var joined = await admin.PostAsJsonAsync($"/api/v1/groups/{groupId}/members", new { userId = member.UserId }))
        {
            await joined.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var share = await member.Client.PostAsJsonAsync($"/api/v1/documents/{document}/shares", new { expiresAt = DateTimeOffset.UtcNow.AddDays(1) });
        await share.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var shareId = (await share.JsonAsync()).GetProperty("id").GetGuid();
        _ids = StoredState.IdsByKind(workspace, folderId, document, approval, uploadId, tokenId, notification, outbox, member.UserId, groupId);
        // A webhook (to a name that never resolves, subscribed to nothing this test causes) and a dead delivery of it.
        using var hook = await admin.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://webhook.invalid/hook", events = new[] { "user.disabled" }, description = _secret });
        await hook.ShouldHaveStatusAsync(HttpStatusCode.Created);
        _ids["webhooks"] = (await hook.JsonAsync()).GetProperty("id").GetGuid();
        _ids["deliveries"] = await StoredState.InsertDeadDeliveryAsync(_app, _owner.Id, _ids["webhooks"]);
        // The document is checked out and commented on, so the lock and the comment are there to be reached for.
        (await member.Client.PostAsync($"/api/v1/documents/{document}/checkout", null)).EnsureSuccessStatusCode();
        using var comment = await member.Client.PostAsJsonAsync($"/api/v1/documents/{document}/comments", new { text = _secret });
        await comment.ShouldHaveStatusAsync(HttpStatusCode.Created);
        _ids["comments"] = (await comment.JsonAsync()).GetProperty("id").GetGuid();
        _ids["shares"] = shareId;
        using var bulk = await member.Client.PostAsJsonAsync("/api/v1/bulk-jobs", new { action = "zip", documentIds = new[] { document } });
        await bulk.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
        _ids["bulk-jobs"] = (await bulk.JsonAsync()).GetProperty("id").GetGuid();
        using var type = await admin.PostAsJsonAsync("/api/v1/document-types", new { name = _secret, fields = new[] { new { key = "secret", label = _secret, kind = "text" } } });
        await type.ShouldHaveStatusAsync(HttpStatusCode.Created);
        _ids["document-types"] = (await type.JsonAsync()).GetProperty("id").GetGuid();
        // A private saved view (issue 16): nobody but its owner may reach it, pinned so its pin is there to reach for too.
        using var view = await member.Client.PostAsJsonAsync("/api/v1/views", new { name = _secret, query = new { tag = _secret }, pinned = true });
        await view.ShouldHaveStatusAsync(HttpStatusCode.Created);
        _ids["views"] = (await view.JsonAsync()).GetProperty("id").GetGuid();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Every_endpoint_answers_another_tenants_ids_exactly_like_unknown_ids() =>
        await WalkAsync(_intruderTenant.Admin, "another tenant's admin", sameTenant: false);

    [Fact]
    public async Task Every_endpoint_answers_an_unreadable_workspaces_ids_exactly_like_unknown_ids() =>
        await WalkAsync(_outsider, "a member outside the workspace", sameTenant: true);

    private async Task WalkAsync(SignedIn caller, string who, bool sameTenant)
    {
        var operations = await ApiOperation.ReadAsync(_app);
        operations.Count.ShouldBeGreaterThan(40);
        var failures = new List<string>();
        var idAddressed = 0;
        (await StoredState.SnapshotAsync(_app, _owner.Id)).ShouldContain("documents=1:", Case.Sensitive, "the snapshot sees the owner's rows");
        foreach (var op in operations.Where(o => !NotIdAddressed.ContainsKey(o.Key)))
        {
            var real = BuildCall(op, kind => _ids[kind]);
            if (real is null)
            {
                // No id in path or body: a list or a create. It must not show the owner's data.
                using var listed = await SendAsync(caller, op, BuildPlainCall(op));
                var body = await listed.Content.ReadAsStringAsync();
                var shared = sameTenant && TenantWide.Contains(op.Key);
                var hidden = _ids.Where(kv => !(shared && kv.Key is "groups" or "document-types")).Select(kv => kv.Value);
                if ((int)listed.StatusCode >= 500 || (!shared && body.Contains(_secret, StringComparison.Ordinal)) || hidden.Any(id => body.Contains(id.ToString(), StringComparison.Ordinal)))
                {
                    failures.Add($"{op}: {(int)listed.StatusCode} shows the owner's data or failed: {Truncate(body)}");
                }
                continue;
            }
            idAddressed++;
            if (sameTenant && TenantWideById.Contains(op.Key))
            {
                continue;
            }
            var before = await StoredState.SnapshotAsync(_app, _owner.Id);
            using var response = await SendAsync(caller, op, real.Value);
            var ghostCall = BuildCall(op, _ => Guid.NewGuid())!.Value;
            using var ghost = await SendAsync(caller, op, ghostCall);
            var text = await response.Content.ReadAsStringAsync();
            var ghostText = await ghost.Content.ReadAsStringAsync();
            if (op.Key == "GET /api/v1/documents" && response.IsSuccessStatusCode && text == ghostText)
            {
                // Filtering the list by ids one cannot see finds nothing, exactly as for ids that do not exist.
                continue;
            }
            if (response.IsSuccessStatusCode || (int)response.StatusCode >= 500)
            {
                failures.Add($"{op}: {(int)response.StatusCode} {Truncate(text)}");
            }
            else if (response.StatusCode != ghost.StatusCode || Code(text) != Code(ghostText))
            {
                failures.Add($"{op}: {(int)response.StatusCode} {Code(text)} but unknown ids give {(int)ghost.StatusCode} {Code(ghostText)}");
            }
            else if (text.Contains(_secret, StringComparison.Ordinal))
            {
                failures.Add($"{op}: the answer names the owner's data: {Truncate(text)}");
            }
            else if (await StoredState.SnapshotAsync(_app, _owner.Id) is var after && after != before)
            {
                failures.Add($"{op}: answered {(int)response.StatusCode} but changed stored data: {StoredState.Diff(before, after)}");
            }
        }
        failures.ShouldBeEmpty($"{who}:\n{string.Join('\n', failures)}");
        // Every operation with a path id (and the creates that name a workspace or folder) was called with the owner's ids.
        idAddressed.ShouldBe(operations.Count(o => o.PathParameters.Count > 0 && !NotIdAddressed.ContainsKey(o.Key)) + 3);
    }

    /// <summary>
    /// The request for an operation with its ids taken from <paramref name="id"/>, or null when the operation
    /// carries no tenant-owned id at all.
    /// </summary>
    private static (string Url, HttpContent? Body)? BuildCall(ApiOperation op, Func<string, Guid> id)
    {
        var segments = op.Path.Split('/');
        var url = new StringBuilder();
        var usesId = false;
        for (var i = 1; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment.StartsWith('{'))
            {
                var kind = segment == "{userId}" ? "members" : segments[i - 1] switch
                {
                    "tokens" or "workspaces" or "folders" or "documents" or "approvals" or "uploads" or "notifications" or "users" or "outbox" or "groups"
                        or "webhooks" or "deliveries" or "comments" or "bulk-jobs" or "document-types" => segments[i - 1],
                    "tokens" or "workspaces" or "folders" or "documents" or "approvals" or "uploads" or "notifications" or "users" or "outbox" or "groups" or "shares" => segments[i - 1],
                    "views" => segments[i - 1],
                    var other => throw new ShouldAssertException($"{op}: a path id after '{other}' is new to this test: map it to an owned object"),
                };
                segment = id(kind).ToString();
                usesId = true;
            }
            url.Append('/').Append(segment);
        }
        var body = op.Key switch
        {
            "POST /api/v1/folders" => JsonContent.Create(new { workspaceId = id("workspaces"), name = "intruder" }),
            "POST /api/v1/documents" => Uploads.Form("x.txt", Uploads.Text("x"), "intruder", folderId: id("folders")),
            "POST /api/v1/uploads/{id}/complete" => JsonContent.Create(new { title = "intruder", folderId = id("folders") }),
            _ => BodyFor(op, id),
        };
        if (op.Key is "POST /api/v1/folders" or "POST /api/v1/documents")
        {
            usesId = true;
        }
        if (op.Key == "GET /api/v1/documents")
        {
            return ($"{url}?workspaceId={id("workspaces")}&folderId={id("folders")}", null);
        }
        return usesId ? (url.ToString(), body) : null;
    }

    private static (string Url, HttpContent? Body) BuildPlainCall(ApiOperation op) => (op.Path, BodyFor(op, _ => Guid.NewGuid()));

    /// <summary>A body that passes validation, so the request reaches the authorisation and lookup it tests.</summary>
    private static HttpContent? BodyFor(ApiOperation op, Func<string, Guid> id) => op.Key switch
    {
        "PATCH /api/v1/documents/{id}" => JsonContent.Create(new { title = "intruder" }),
        "PATCH /api/v1/users/{id}" => JsonContent.Create(new { role = "Admin" }),
        "POST /api/v1/workspaces/{id}/members" => JsonContent.Create(new { userId = id("members"), role = "Manager" }),
        "POST /api/v1/groups" => JsonContent.Create(new { name = $"intruder {Guid.NewGuid():N}" }),
        "PATCH /api/v1/groups/{id}" => JsonContent.Create(new { name = $"intruder {Guid.NewGuid():N}" }),
        "POST /api/v1/document-types" or "PATCH /api/v1/document-types/{id}" => JsonContent.Create(new { name = $"intruder {Guid.NewGuid():N}" }),
        "POST /api/v1/groups/{id}/members" => JsonContent.Create(new { userId = id("members") }),
        "POST /api/v1/documents/{id}/delete-requests" => JsonContent.Create(new { reason = "intruder" }),
        "POST /api/v1/documents/{id}/replace-requests" => new MultipartFormDataContent
        {
            { new ByteArrayContent(Uploads.Text("intruder")), "file", "x.txt" },
            { new StringContent("intruder"), "reason" },
        },
        "PUT /api/v1/documents/{id}/legal-hold" => JsonContent.Create(new { enabled = true, reason = "intruder" }),
        "POST /api/v1/approvals/{id}/approve" => JsonContent.Create(new { comment = "intruder" }),
        "POST /api/v1/approvals/{id}/reject" => JsonContent.Create(new { reason = "intruder" }),
        "POST /api/v1/workspaces" => JsonContent.Create(new { name = $"intruder {Guid.NewGuid():N}" }),
        "POST /api/v1/users" => JsonContent.Create(new { email = $"i-{Guid.NewGuid():N}@example.test", password = "a-long-password-1", role = "Member" }),
        "POST /api/v1/uploads" => JsonContent.Create(new { fileName = "x.txt", size = 1 }),
        "POST /api/v1/me/tokens" => JsonContent.Create(new { name = "intruder", expiresAt = DateTime.UtcNow.AddDays(1) }),
        "POST /api/v1/documents/{id}/shares" => JsonContent.Create(new { expiresAt = DateTimeOffset.UtcNow.AddDays(1), password = "intruder-password" }),
        _ when op.HasJsonBody => JsonContent.Create(new { }),
        _ => null,
    };

    private static async Task<HttpResponseMessage> SendAsync(SignedIn caller, ApiOperation op, (string Url, HttpContent? Body) call)
    {
        using var request = new HttpRequestMessage(new HttpMethod(op.Method), call.Url) { Content = call.Body };
        if (op.Method == "PATCH")
        {
            request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        }
        return await caller.Client.SendAsync(request);
    }

    private static string? Code(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("code", out var code) ? code.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Truncate(string s) => s.Length > 300 ? s[..300] + "…" : s;
}
