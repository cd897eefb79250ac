using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Security;

/// <summary>
/// Bad input generated from the served OpenAPI document and sent to every operation: malformed and wrongly
/// typed bodies, huge and empty values, odd Unicode, path traversal and injection strings, in path, query,
/// JSON and multipart fields. Never a 5xx; every 4xx is problem+json with a code and leaves the tenant's
/// stored data exactly as it was.
/// </summary>
public sealed class GeneratedBadInputTests : IAsyncLifetime
{
    // (An encoded NUL in the path never reaches the app: Kestrel refuses it, and the in-memory test host cannot send it.)
    private static readonly string[] PathValues =
    [
        "not-a-guid", "..%2F..%2Fetc%2Fpasswd", "%27%20OR%201%3D1--", "%F0%9F%98%80", new('9', 5000), "{id}",
        "00000000-0000-0000-0000-00000000000g",
    ];

    private static readonly string[] QueryValues =
    [
        "", "%00", "%ED%A0%80", new('x', 10_000), "-1", "abc", "%27%20OR%201%3D1--", "..%2F..%2Fetc%2Fpasswd", "99999999999999999999999",
        "2026-13-45T99:99:99Z", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "true&limit=0",
    ];

    // Raw JSON fragments put in place of one property's value.
    private static readonly string[] JsonValues =
    [
        "123", "-1", "1e400", "true", "[]", "{}", "\"\"", "\"   \"", "\"\\u0000\"", "\"\\ud800\"", "\"\\u202eexe.txt\"", "\"\\u200b\\u200b\"",
        JsonSerializer.Serialize(new string('x', 200_000)), "\"../../../etc/passwd\"", "\"<script>alert(1)</script>\"",
        "\"'; DROP TABLE documents;--\"", "\"${jndi:ldap://127.0.0.1/x}\"", "\"Ω≈ç√∫˜µ≤≥÷ 田中さん 👩🏽‍🚀\"", "[\"a\",1,null,{}]", "\"0000-00-00\"",
    ];

    // Bodies no operation may accept; then bodies an operation with optional fields or an optional body may accept.
    private static readonly string[] BrokenBodies =
    [
        "{not json", "[]", "\"text\"", "123", "{\"a\":", new string('[', 5000) + new string(']', 5000),
    ];

    private static readonly string[] OddBodies = ["", "null", "{}", "{\"a\":1,\"a\":2}", "\uFEFF{}"];

    private static readonly string[] FormValues =
    [
        "", " ", "\0", "\u202etxt.exe", new string('t', 100_000), "../../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1--", "not-a-guid",
        "a,b,,,c," + new string(',', 1000), "👩🏽‍🚀",
    ];

    private static readonly string[] FileNames =
    [
        "../../etc/passwd.txt", "..\\..\\boot.ini.txt", "CON.txt", "a\u0000b.txt", "\u202etxt.exe", new string('n', 1000) + ".txt", "", ".txt",
        "a.txt ", "file.txt:stream", "x.pdf",
    ];

    private DmsApp _app = null!;
    private TestTenant _tenant = null!;
    private Dictionary<string, Guid> _ids = null!;
    private readonly List<string> _failures = [];
    private int _sent;

    public async Task InitializeAsync()
    {
        _app = await DmsApp.GetAsync();
        _tenant = await _app.CreateTenantAsync();
        var admin = _tenant.Admin.Client;
        var member = await _tenant.CreateUserAsync("Member");
        using var ws = await admin.PostAsJsonAsync("/api/v1/workspaces", new { name = "Fuzz" });
        var workspace = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        using var folder = await admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId = workspace, name = "Inbox" });
        var folderId = (await folder.JsonAsync()).GetProperty("id").GetGuid();
        using var doc = await member.Client.PostAsync("/api/v1/documents", Uploads.Form("a.txt", Uploads.Text("a"), "A"));
        var document = (await doc.JsonAsync()).GetProperty("id").GetGuid();
        using var requested = await member.Client.PostAsync("/api/v1/documents", Uploads.Form("b.txt", Uploads.Text("b"), "B"));
        var requestedDocument = (await requested.JsonAsync()).GetProperty("id").GetGuid();
        using var request = await member.Client.PostAsJsonAsync($"/api/v1/documents/{requestedDocument}/delete-requests", new { reason = "fuzz" });
        var approval = (await request.JsonAsync()).GetProperty("id").GetGuid();
        using var upload = await admin.PostAsJsonAsync("/api/v1/uploads", new { fileName = "u.txt", size = 5 });
        var uploadId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        using var token = await admin.PostAsJsonAsync("/api/v1/me/tokens", new { name = "fuzz", expiresAt = DateTime.UtcNow.AddDays(1) });
        var tokenId = (await token.JsonAsync()).GetProperty("id").GetGuid();
        await StoredState.SettleAsync(_app, _tenant.Id);
        var notifications = (await (await admin.GetAsync("/api/v1/notifications")).JsonAsync()).GetProperty("items");
        var notification = notifications.GetArrayLength() > 0 ? notifications[0].GetProperty("id").GetGuid() : Guid.NewGuid();
        var outbox = await StoredState.InsertDeadMessageAsync(_app, _tenant.Id);
        using var group = await admin.PostAsJsonAsync("/api/v1/groups", new { name = "Fuzzers" });
        var groupId = (await group.JsonAsync()).GetProperty("id").GetGuid();
        using (var joined = await admin.PostAsJsonAsync($"/api/v1/groups/{groupId}/members", new { userId = member.UserId }))
        {
            await joined.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        _ids = StoredState.IdsByKind(workspace, folderId, document, approval, uploadId, tokenId, notification, outbox, member.UserId, groupId);
        using var comment = await member.Client.PostAsJsonAsync($"/api/v1/documents/{document}/comments", new { text = "fuzz" });
        await comment.ShouldHaveStatusAsync(HttpStatusCode.Created);
        _ids["comments"] = (await comment.JsonAsync()).GetProperty("id").GetGuid();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Every_endpoint_survives_bad_input_with_a_4xx_problem_and_no_stored_change()
    {
        var operations = await ApiOperation.ReadAsync(_app);
        var baseline = await StoredState.SnapshotAsync(_app, _tenant.Id);
        baseline.ShouldContain("documents=2:", Case.Sensitive, "the snapshot sees the tenant's rows");
        foreach (var op in operations)
        {
            // Path parameters: each one replaced in turn.
            for (var i = 0; i < op.PathParameters.Count; i++)
            {
                foreach (var value in PathValues)
                {
                    baseline = await SendAsync(op, PathWith(op, i, value), BaseBody(op), baseline, expectRejected: true);
                }
            }
            // Query parameters: each one alone with each bad value.
            foreach (var name in op.QueryParameters)
            {
                foreach (var value in QueryValues)
                {
                    baseline = await SendAsync(op, $"{PathWith(op, -1, null)}?{name}={value}", BaseBody(op), baseline, expectRejected: false);
                }
            }
            if (op.HasJsonBody)
            {
                foreach (var raw in BrokenBodies)
                {
                    // Logout answers 204 to anything, so it reveals nothing about tokens.
                    baseline = await SendAsync(op, PathWith(op, -1, null), Json(raw), baseline, expectRejected: op.Key != "POST /api/v1/auth/logout");
                }
                foreach (var raw in OddBodies)
                {
                    baseline = await SendAsync(op, PathWith(op, -1, null), Json(raw), baseline, expectRejected: false);
                }
                foreach (var property in op.BodyProperties)
                {
                    foreach (var value in JsonValues)
                    {
                        baseline = await SendAsync(op, PathWith(op, -1, null), Json(JsonWith(op, property, value)), baseline, expectRejected: false);
                    }
                }
            }
            if (op.HasMultipartBody)
            {
                foreach (var field in op.BodyProperties)
                {
                    foreach (var value in FormValues)
                    {
                        baseline = await SendAsync(op, PathWith(op, -1, null), Form(op, field, value, "a.txt"), baseline, expectRejected: false);
                    }
                }
                foreach (var fileName in FileNames)
                {
                    baseline = await SendAsync(op, PathWith(op, -1, null), Form(op, null, null, fileName), baseline, expectRejected: false);
                }
            }
        }
        _failures.ShouldBeEmpty($"{_failures.Count} of {_sent} requests:\n{string.Join('\n', _failures.Take(60))}");
        _sent.ShouldBeGreaterThan(1000);
    }

    /// <summary>Sends one request and checks it; returns the snapshot later requests are compared with.</summary>
    private async Task<string> SendAsync(ApiOperation op, string url, HttpContent? body, string baseline, bool expectRejected)
    {
        using var request = new HttpRequestMessage(new HttpMethod(op.Method), url) { Content = body };
        if (op.Method == "PATCH")
        {
            request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        }
        if (op.Key == "POST /api/v1/platform/tenants")
        {
            request.Headers.Add("X-Platform-Key", DmsApp.PlatformKey);
        }
        var what = $"{op.Method} {Truncate(url)} {Truncate(body is null ? "" : await body.ReadAsStringAsync())}";
        using var response = await _tenant.Admin.Client.SendAsync(request);
        _sent++;
        var status = (int)response.StatusCode;
        if (status >= 500)
        {
            _failures.Add($"{status} for {what}: {Truncate(await response.Content.ReadAsStringAsync())}");
            return await StoredState.SnapshotAsync(_app, _tenant.Id);
        }
        if (status is >= 200 and < 400)
        {
            if (expectRejected)
            {
                _failures.Add($"{status} accepted {what}");
            }
            // Accepted input (a title with odd characters is a valid title) may change data; start again from here.
            await StoredState.SettleAsync(_app, _tenant.Id);
            return await StoredState.SnapshotAsync(_app, _tenant.Id);
        }
        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            _failures.Add($"{status} without problem+json for {what}");
        }
        else
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            if (!problem.RootElement.TryGetProperty("code", out var code) || string.IsNullOrEmpty(code.GetString()))
            {
                _failures.Add($"{status} problem without a code for {what}");
            }
        }
        var after = await StoredState.SnapshotAsync(_app, _tenant.Id);
        if (after != baseline)
        {
            _failures.Add($"{status} but stored data changed ({StoredState.Diff(baseline, after)}) for {what}");
        }
        return after;
    }

    private string PathWith(ApiOperation op, int replaced, string? value)
    {
        var segments = op.Path.Split('/');
        var index = -1;
        for (var i = 1; i < segments.Length; i++)
        {
            if (segments[i].StartsWith('{'))
            {
                index++;
                var kind = segments[i] == "{userId}" ? "members" : segments[i - 1];
                segments[i] = index == replaced ? value! : (_ids.TryGetValue(kind, out var id) ? id : Guid.NewGuid()).ToString();
            }
        }
        return string.Join('/', segments);
    }

    /// <summary>A valid body for the operation, as JSON properties, so one bad value at a time is what gets tested.</summary>
    private Dictionary<string, object?> BaseJson(ApiOperation op) => op.Key switch
    {
        "POST /api/v1/auth/login" => new() { ["tenant"] = _tenant.Slug, ["email"] = "nobody@example.test", ["password"] = "wrong-password" },
        "POST /api/v1/auth/refresh" or "POST /api/v1/auth/logout" => new() { ["refreshToken"] = "not-a-token" },
        "POST /api/v1/platform/tenants" => new() { ["slug"] = $"fz-{Guid.NewGuid():N}"[..16], ["name"] = "Fuzz", ["adminEmail"] = "a@example.test", ["adminPassword"] = "a-long-password-1" },
        "POST /api/v1/me/tokens" => new() { ["name"] = "fuzz", ["expiresAt"] = DateTime.UtcNow.AddDays(1), ["scopes"] = new[] { "read" } },
        "POST /api/v1/users" => new() { ["email"] = $"f-{Guid.NewGuid():N}@example.test", ["password"] = "a-long-password-1", ["role"] = "Member", ["displayName"] = "F" },
        "PATCH /api/v1/users/{id}" => new() { ["displayName"] = "Member" },
        "POST /api/v1/workspaces/{id}/members" => new() { ["userId"] = _ids["members"], ["role"] = "Viewer" },
        "POST /api/v1/workspaces" => new() { ["name"] = $"w {Guid.NewGuid():N}", ["description"] = "d" },
        "POST /api/v1/folders" => new() { ["workspaceId"] = _ids["workspaces"], ["name"] = $"f {Guid.NewGuid():N}" },
        "PATCH /api/v1/documents/{id}" => new() { ["title"] = "A", ["description"] = "d", ["tags"] = new[] { "t" } },
        "POST /api/v1/uploads" => new() { ["fileName"] = "u.txt", ["size"] = 5, ["contentType"] = "text/plain", ["sha256"] = null },
        "POST /api/v1/uploads/{id}/complete" => new() { ["title"] = "U", ["description"] = null, ["workspaceId"] = null, ["folderId"] = null, ["tags"] = null, ["parts"] = null },
        "POST /api/v1/documents/{id}/delete-requests" => new() { ["reason"] = "fuzz" },
        "POST /api/v1/documents/{id}/replace-requests" => new() { ["uploadId"] = _ids["uploads"], ["reason"] = "fuzz" },
        "PUT /api/v1/documents/{id}/legal-hold" => new() { ["enabled"] = false, ["reason"] = "fuzz" },
        "POST /api/v1/approvals/{id}/approve" => new() { ["comment"] = "ok" },
        "POST /api/v1/approvals/{id}/reject" => new() { ["reason"] = "no" },
        "POST /api/v1/groups" => new() { ["name"] = $"g {Guid.NewGuid():N}" },
        "PATCH /api/v1/groups/{id}" => new() { ["name"] = "Fuzzers" },
        "POST /api/v1/groups/{id}/members" => new() { ["userId"] = _ids["members"] },
        _ => op.BodyProperties.ToDictionary(p => p, _ => (object?)"x"),
    };

    private HttpContent? BaseBody(ApiOperation op) =>
        op.HasJsonBody ? Json(JsonSerializer.Serialize(BaseJson(op))) : op.HasMultipartBody ? Form(op, null, null, "a.txt") : null;

    private string JsonWith(ApiOperation op, string property, string rawValue)
    {
        var body = BaseJson(op).ToDictionary(kv => kv.Key, kv => JsonSerializer.Serialize(kv.Value));
        body[property] = rawValue;
        return "{" + string.Join(",", body.Select(kv => $"{JsonSerializer.Serialize(kv.Key)}:{kv.Value}")) + "}";
    }

    private static StringContent Json(string raw) => new(raw, new UTF8Encoding(false), "application/json");

    /// <summary>A multipart form written by hand, so names and values may hold anything (HttpClient refuses some).</summary>
    private static ByteArrayContent Form(ApiOperation op, string? field, string? value, string fileName)
    {
        var fields = op.Path.EndsWith("replace-requests", StringComparison.Ordinal)
            ? new Dictionary<string, string> { ["reason"] = "fuzz" }
            : new Dictionary<string, string> { ["title"] = "F" };
        if (field is not null)
        {
            fields[field] = value!;
        }
        var body = new StringBuilder();
        body.Append("--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"").Append(fileName)
            .Append("\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n");
        foreach (var (name, text) in fields)
        {
            body.Append("--b0undary\r\nContent-Disposition: form-data; name=\"").Append(name).Append("\"\r\n\r\n").Append(text).Append("\r\n");
        }
        body.Append("--b0undary--\r\n");
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body.ToString()));
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=b0undary");
        return content;
    }

    private static string Truncate(string s) => s.Length > 160 ? s[..160] + "…" : s;
}
