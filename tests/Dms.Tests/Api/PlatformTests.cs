using System.Net;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

public sealed class PlatformTests
{
    [Fact]
    public async Task The_openapi_document_describes_every_endpoint_and_bearer_auth()
    {
        var client = (await DmsApp.GetAsync()).CreateClient();
        using var response = await client.GetAsync("/openapi/v1.json");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var doc = await response.JsonAsync();
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        paths.ShouldBe(
        [
            "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/me", "/api/v1/users", "/api/v1/users/{id}",
            "/api/v1/platform/tenants", "/api/v1/workspaces", "/api/v1/workspaces/{id}", "/api/v1/folders", "/api/v1/folders/{id}",
            "/api/v1/documents", "/api/v1/documents/{id}", "/api/v1/documents/{id}/versions", "/api/v1/documents/{id}/content",
            "/api/v1/documents/{id}/text", "/api/v1/documents/{id}/text/content", "/api/v1/documents/{id}/thumbnail", "/api/v1/documents/{id}/preview", "/api/v1/admin/search-settings",
            "/api/v1/uploads", "/api/v1/uploads/{id}", "/api/v1/uploads/{id}/complete", "/api/v1/storage/objects",
            "/api/v1/documents/{id}/delete-requests", "/api/v1/documents/{id}/replace-requests", "/api/v1/documents/{id}/approvals",
            "/api/v1/documents/{id}/restore", "/api/v1/documents/{id}/legal-hold", "/api/v1/approvals", "/api/v1/approvals/{id}",
            "/api/v1/approvals/{id}/approve", "/api/v1/approvals/{id}/reject", "/api/v1/approvals/{id}/cancel", "/api/v1/approvals/{id}/give-up", "/api/v1/trash",
            "/api/v1/notifications", "/api/v1/notifications/unread-count", "/api/v1/notifications/{id}/read", "/api/v1/notifications/read-all",
            "/api/v1/me/notification-preferences",
            "/api/v1/webhooks", "/api/v1/webhooks/{id}", "/api/v1/webhooks/{id}/deliveries", "/api/v1/webhooks/{id}/deliveries/{deliveryId}/replay",
            "/api/v1/webhooks/{id}/rotate-secret", "/api/v1/webhooks/{id}/test",
            "/api/v1/admin/outbox/dead", "/api/v1/admin/outbox/{id}/replay", "/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify",
            "/api/v1/auth/logout", "/api/v1/me/tokens", "/api/v1/me/tokens/{id}",
            "/api/v1/workspaces/{id}/members", "/api/v1/workspaces/{id}/members/{userId}", "/api/v1/workspaces/{id}/folders",
            "/api/v1/approvals/{id}/content", "/api/v1/me/password", "/api/v1/users/{id}/password-reset",
            "/api/v1/workspaces/{id}/policy", "/api/v1/me/delegation",
            "/api/v1/groups", "/api/v1/groups/{id}", "/api/v1/groups/{id}/members", "/api/v1/groups/{id}/members/{userId}",
            "/api/v1/documents/{id}/checkout", "/api/v1/documents/{id}/checkin", "/api/v1/documents/{id}/comments", "/api/v1/comments/{id}",
            "/api/v1/documents/{id}/shares", "/api/v1/shares/{id}", "/api/v1/admin/share-settings", "/s/{token}/download",
            "/api/v1/bulk-jobs", "/api/v1/bulk-jobs/{id}", "/api/v1/bulk-jobs/{id}/cancel", "/api/v1/bulk-jobs/{id}/content",
            "/api/v1/documents/{id}/move", "/api/v1/admin/duplicate-settings",
            "/api/v1/document-types", "/api/v1/document-types/{id}",
            "/api/v1/views", "/api/v1/views/{id}", "/api/v1/views/{id}/count", "/api/v1/home",
            "/api/v1/platform/plans", "/api/v1/platform/tenants/{slug}/plan", "/api/v1/tenant/usage", "/api/v1/billing/webhook",
        ], ignoreOrder: true);
        doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("scheme").GetString().ShouldBe("bearer");

        using var ui = await client.GetAsync("/swagger/index.html");
        await ui.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Every_operation_documents_its_success_and_problem_responses_under_a_module_tag()
    {
        var client = (await DmsApp.GetAsync()).CreateClient();
        var doc = await (await client.GetAsync("/openapi/v1.json")).JsonAsync();
        doc.GetProperty("info").GetProperty("title").GetString().ShouldStartWith("DMS Enterprise");
        var tags = doc.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        tags[^1].ShouldBe("Storage", "the internal signed-storage endpoints come last");
        doc.GetProperty("components").GetProperty("schemas").TryGetProperty("Problem", out _).ShouldBeTrue();
        var missing = new List<string>();
        foreach (var path in doc.GetProperty("paths").EnumerateObject())
        {
            foreach (var op in path.Value.EnumerateObject().Where(o => o.Name != "parameters"))
            {
                var name = $"{op.Name.ToUpperInvariant()} {path.Name}";
                if (!op.Value.TryGetProperty("tags", out var opTags) || opTags.GetArrayLength() == 0 || !tags.Contains(opTags[0].GetString()!))
                {
                    missing.Add($"{name}: no module tag");
                }
                var responses = op.Value.GetProperty("responses").EnumerateObject().ToList();
                if (!responses.Any(r => r.Name == "default" && r.Value.GetProperty("content").TryGetProperty("application/problem+json", out _)))
                {
                    missing.Add($"{name}: no problem response");
                }
                var success = responses.Where(r => r.Name.StartsWith('2') || r.Name.StartsWith('3')).ToList();
                if (success.Count == 0)
                {
                    missing.Add($"{name}: no success response");
                }
                // A 200 or 201 answers with a body, which must have a schema (202, 204 and redirects have none; a signed
                // upload's 200 has an empty body).
                foreach (var ok in success.Where(r => r.Name is "200" or "201" && name != "PUT /api/v1/storage/objects"))
                {
                    if (!ok.Value.TryGetProperty("content", out var content) || !content.EnumerateObject().Any(c => c.Value.TryGetProperty("schema", out _)))
                    {
                        missing.Add($"{name}: {ok.Name} without a schema");
                    }
                }
            }
        }
        missing.ShouldBeEmpty();
    }

    [Fact]
    public async Task Health_endpoints_report_database_and_storage()
    {
        var client = (await DmsApp.GetAsync()).CreateClient();
        using var live = await client.GetAsync("/health/live");
        await live.ShouldHaveStatusAsync(HttpStatusCode.OK);
        using var ready = await client.GetAsync("/health/ready");
        await ready.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var checks = (await ready.JsonAsync()).GetProperty("checks");
        checks.GetProperty("database").GetProperty("status").GetString().ShouldBe("Healthy");
        checks.GetProperty("storage").GetProperty("status").GetString().ShouldBe("Healthy");
    }

    [Fact]
    public async Task Every_response_carries_a_correlation_id_and_security_headers()
    {
        var client = (await DmsApp.GetAsync()).CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me");
        request.Headers.Add("X-Correlation-Id", "client-supplied-42");
        using var response = await client.SendAsync(request);
        response.Headers.GetValues("X-Correlation-Id").ShouldBe(["client-supplied-42"]);
        response.Headers.GetValues("X-Content-Type-Options").ShouldBe(["nosniff"]);
        response.Headers.GetValues("X-Frame-Options").ShouldBe(["DENY"]);

        using var hostile = new HttpRequestMessage(HttpMethod.Get, "/health/live");
        hostile.Headers.TryAddWithoutValidation("X-Correlation-Id", "<script>alert(1)</script>");
        using var sanitized = await client.SendAsync(hostile);
        sanitized.Headers.GetValues("X-Correlation-Id").Single().ShouldNotContain("<");
    }
}

/// <summary>CORS is off unless origins are configured; then only those origins get CORS headers.</summary>
public sealed class CorsTests : IAsyncLifetime
{
    private DmsApp _configured = null!;

    public async Task InitializeAsync() => _configured = await DmsApp.CreateIsolatedAsync($"cors_{Guid.NewGuid():N}"[..20], new Dictionary<string, string>
    {
        ["Dms:Security:AllowedOrigins"] = "https://intranet.example.test",
    });

    public async Task DisposeAsync() => await _configured.DisposeAsync();

    [Fact]
    public async Task Only_configured_origins_get_cors_headers()
    {
        static HttpRequestMessage Preflight(string origin)
        {
            var request = new HttpRequestMessage(HttpMethod.Options, "/api/v1/documents");
            request.Headers.Add("Origin", origin);
            request.Headers.Add("Access-Control-Request-Method", "GET");
            request.Headers.Add("Access-Control-Request-Headers", "authorization");
            return request;
        }
        var byDefault = (await DmsApp.GetAsync()).CreateClient();
        using (var response = await byDefault.SendAsync(Preflight("https://intranet.example.test")))
        {
            response.Headers.Contains("Access-Control-Allow-Origin").ShouldBeFalse("CORS is off by default");
        }
        var client = _configured.CreateClient();
        using (var allowed = await client.SendAsync(Preflight("https://intranet.example.test")))
        {
            allowed.Headers.GetValues("Access-Control-Allow-Origin").ShouldBe(["https://intranet.example.test"]);
        }
        using (var other = await client.SendAsync(Preflight("https://evil.example.test")))
        {
            other.Headers.Contains("Access-Control-Allow-Origin").ShouldBeFalse();
        }
    }
}
