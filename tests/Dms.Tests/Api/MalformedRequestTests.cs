using System.Net;
using System.Text;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>Whatever a client sends, the answer is a 4xx problem with a code, never a 500, and nothing stored changes.</summary>
public sealed class MalformedRequestTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    public static TheoryData<string, string, string?, string?, int> Cases() => new()
    {
        // method, path, content type, body, expected status
        { "POST", "/api/v1/users", "application/json", "{not json", 400 },
        { "POST", "/api/v1/users", "application/json", "", 400 },
        { "POST", "/api/v1/users", "application/json", "null", 400 },
        { "POST", "/api/v1/users", "application/json", "[]", 400 },
        { "POST", "/api/v1/users", "application/json", "{\"email\":123,\"password\":true,\"role\":[]}", 400 },
        { "POST", "/api/v1/users", "application/json", "{}", 400 },
        { "POST", "/api/v1/users", "application/json", "{\"email\":\"a\\u0000b@example.test\",\"password\":\"0123456789\",\"role\":\"Member\"}", 400 },
        { "POST", "/api/v1/users", "text/plain", "email=x", 415 },
        { "POST", "/api/v1/users", null, null, 400 },
        { "POST", "/api/v1/users", "application/json", "{\"email\":\"x@example.test\",\"password\":\"pw-\\u0000-0123456\",\"role\":\"Member\",\"displayName\":\"\\u0000\"}", 400 },
        { "POST", "/api/v1/workspaces", "application/json", "{\"name\":\"ok\",\"description\":\"\\u0000\"}", 400 },
        { "PATCH", "/api/v1/users/not-a-guid", "application/json", "{\"role\":\"Admin\"}", 400 },
        { "PATCH", "/api/v1/users/00000000-0000-0000-0000-000000000000", "application/json", "{\"disabled\":\"yes\"}", 400 },
        { "GET", "/api/v1/users/123", null, null, 400 },
        { "GET", "/api/v1/documents/%27%20OR%201=1--", null, null, 400 },
        { "GET", "/api/v1/documents?limit=0", null, null, 400 },
        { "GET", "/api/v1/documents?limit=abc", null, null, 400 },
        { "GET", "/api/v1/documents?limit=100000", null, null, 400 },
        { "GET", "/api/v1/documents?cursor=garbage", null, null, 400 },
        { "GET", "/api/v1/documents?cursor=AAAAAAAA", null, null, 400 },
        { "GET", "/api/v1/documents?workspaceId=../../etc", null, null, 400 },
        { "GET", "/api/v1/documents?q=%00", null, null, 400 },
        { "GET", "/api/v1/documents/00000000-0000-0000-0000-000000000000/content?version=x", null, null, 400 },
        { "POST", "/api/v1/documents", "application/json", "{\"title\":\"no file\"}", 415 },
        { "POST", "/api/v1/documents", "multipart/form-data", "--x\r\n\r\n", 400 },
        { "POST", "/api/v1/documents", "multipart/form-data; boundary=x", "garbage without boundaries", 400 },
        { "POST", "/api/v1/documents", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nonly a title\r\n--x--\r\n", 400 },
        { "POST", "/api/v1/documents", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\none\r\n--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.txt\"\r\n\r\ntwo\r\n--x--\r\n", 400 },
        { "POST", "/api/v1/documents", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nok\r\n--x\r\nContent-Disposition: form-data; name=\"folderId\"\r\n\r\nnot-a-guid\r\n--x--\r\n", 400 },
        { "POST", "/api/v1/documents", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../../etc/passwd\"\r\n\r\nroot:x:0:0\r\n--x--\r\n", 415 },
        { "POST", "/api/v1/folders", "application/json", "{\"workspaceId\":\"nope\",\"name\":\"x\"}", 400 },
        { "POST", "/api/v1/folders", "application/json", "{\"name\":\"x\"}", 400 },
        { "POST", "/api/v1/folders", "application/json", "{\"workspaceId\":\"00000000-0000-0000-0000-000000000000\",\"name\":\"..\"}", 400 },
        { "POST", "/api/v1/folders", "application/json", "{\"workspaceId\":\"00000000-0000-0000-0000-000000000000\",\"name\":\"a/b\"}", 400 },
        { "POST", "/api/v1/workspaces", "application/json", "{\"name\":\"\"}", 400 },
        { "POST", "/api/v1/workspaces", "application/json", "{\"name\":\"" + new string('w', 5000) + "\"}", 400 },
        { "POST", "/api/v1/auth/login", "application/json", "{\"tenant\":\"x\\u0000\",\"email\":\"a@b.c\",\"password\":\"p\"}", 401 },
        { "POST", "/api/v1/auth/login", "application/json", "{\"tenant\":\"demo\"}", 400 },
        { "POST", "/api/v1/auth/login", "application/json", "{\"tenant\":\"demo\",\"email\":\"\\u0000\",\"password\":\"p\"}", 401 },
        { "POST", "/api/v1/auth/refresh", "application/json", "{\"refreshToken\":42}", 400 },
        { "POST", "/api/v1/platform/tenants", "application/json", "{}", 401 },
        { "POST", "/api/v1/uploads", "application/json", "{\"fileName\":[1],\"size\":1}", 400 },
        { "POST", "/api/v1/uploads", "application/json", "{\"fileName\":\"a\\u0000.exe\",\"size\":1}", 415 },
        { "POST", "/api/v1/uploads/not-a-guid/complete", "application/json", "{}", 400 },
        { "POST", "/api/v1/uploads/00000000-0000-0000-0000-000000000000/complete", "application/json", "{\"parts\":\"all\"}", 400 },
        { "POST", "/api/v1/uploads/00000000-0000-0000-0000-000000000000/complete", "application/json", "{}", 404 },
        { "DELETE", "/api/v1/uploads/00000000-0000-0000-0000-000000000000", null, null, 404 },
        { "PUT", "/api/v1/storage/objects", null, null, 403 },
        { "PUT", "/api/v1/storage/objects?token=abc.def", null, null, 403 },
        { "GET", "/api/v1/storage/objects?token=%00", null, null, 403 },
        { "GET", "/api/v1/documents/00000000-0000-0000-0000-000000000000/content?redirect=maybe", null, null, 400 },
        { "DELETE", "/api/v1/documents", null, null, 405 },
        { "GET", "/api/v1/does-not-exist", null, null, 404 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Malformed_requests_get_a_4xx_problem_and_change_nothing(string method, string path, string? contentType, string? body, int expected)
    {
        var tenant = fixture.Tenant;
        var before = await SnapshotAsync(tenant);

        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        }
        if (contentType is not null)
        {
            request.Content ??= new ByteArrayContent([]);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        using var response = await tenant.Admin.Client.SendAsync(request);
        await response.ShouldBeProblemAsync((HttpStatusCode)expected);

        (await SnapshotAsync(tenant)).ShouldBe(before);
    }

    private static async Task<string> SnapshotAsync(TestTenant tenant)
    {
        var documents = await (await tenant.Admin.Client.GetAsync("/api/v1/documents?limit=200")).Content.ReadAsStringAsync();
        var users = await (await tenant.Admin.Client.GetAsync("/api/v1/users")).Content.ReadAsStringAsync();
        var workspaces = await (await tenant.Admin.Client.GetAsync("/api/v1/workspaces")).Content.ReadAsStringAsync();
        return documents + users + workspaces;
    }
}
