using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>Another tenant's ids, however obtained, behave exactly like ids that do not exist.</summary>
public sealed class TenantIsolationTests : IAsyncLifetime
{
    private TestTenant _owner = null!;
    private TestTenant _intruder = null!;
    private Guid _document;
    private Guid _folder;
    private Guid _workspace;
    private Guid _user;

    public async Task InitializeAsync()
    {
        var app = await DmsApp.GetAsync();
        _owner = await app.CreateTenantAsync();
        _intruder = await app.CreateTenantAsync();
        using var ws = await _owner.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = "Secret projects" });
        _workspace = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        using var folder = await _owner.Admin.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = _workspace, name = "Mergers" });
        _folder = (await folder.JsonAsync()).GetProperty("id").GetGuid();
        using var doc = await _owner.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("secret.txt", Uploads.Text("top secret"), "Secret plan", "secret", folderId: _folder));
        _document = (await doc.JsonAsync()).GetProperty("id").GetGuid();
        _user = (await _owner.CreateUserAsync("Member")).UserId;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public static TheoryData<string, string, string> Endpoints() => new()
    {
        { "GET", "/api/v1/documents/{document}", "document.not_found" },
        { "GET", "/api/v1/documents/{document}/versions", "document.not_found" },
        { "GET", "/api/v1/documents/{document}/content", "document.not_found" },
        { "GET", "/api/v1/documents/{document}/content?version=1", "document.not_found" },
        { "PATCH", "/api/v1/documents/{document}", "document.not_found" },
        { "GET", "/api/v1/folders/{folder}", "folder.not_found" },
        { "GET", "/api/v1/workspaces/{workspace}", "workspace.not_found" },
        { "GET", "/api/v1/users/{user}", "user.not_found" },
        { "PATCH", "/api/v1/users/{user}", "user.not_found" },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Another_tenants_ids_are_404_exactly_like_unknown_ids(string method, string template, string code)
    {
        var url = template.Replace("{document}", _document.ToString(), StringComparison.Ordinal)
            .Replace("{folder}", _folder.ToString(), StringComparison.Ordinal)
            .Replace("{workspace}", _workspace.ToString(), StringComparison.Ordinal)
            .Replace("{user}", _user.ToString(), StringComparison.Ordinal);
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (method == "PATCH")
        {
            request.Content = template.Contains("users", StringComparison.Ordinal)
                ? JsonContent.Create(new { role = "Admin" })
                : JsonContent.Create(new { title = "pwned" });
            request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
        }
        using var response = await _intruder.Admin.Client.SendAsync(request);
        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, code);
        problem.GetRawText().ShouldNotContain("secret", Case.Insensitive);

        // The owner still sees it unchanged.
        using var own = await _owner.Admin.Client.GetAsync($"/api/v1/documents/{_document}");
        (await own.JsonAsync()).GetProperty("title").GetString().ShouldBe("Secret plan");
    }

    [Fact]
    public async Task Lists_search_and_filters_never_show_another_tenants_documents()
    {
        foreach (var query in new[] { "", "?q=secret", "?tag=secret", $"?folderId={_folder}", $"?workspaceId={_workspace}" })
        {
            var page = await (await _intruder.Admin.Client.GetAsync($"/api/v1/documents{query}")).JsonAsync();
            page.GetProperty("items").GetArrayLength().ShouldBe(0, $"query '{query}'");
        }
        var workspaces = await (await _intruder.Admin.Client.GetAsync("/api/v1/workspaces")).JsonAsync();
        workspaces.GetProperty("items").EnumerateArray().ShouldNotContain(w => w.GetProperty("id").GetGuid() == _workspace);
        var users = await (await _intruder.Admin.Client.GetAsync("/api/v1/users")).JsonAsync();
        users.GetProperty("items").EnumerateArray().ShouldNotContain(u => u.GetProperty("id").GetGuid() == _user);
    }

    [Fact]
    public async Task Another_tenants_workspace_or_folder_cannot_be_written_into()
    {
        using var upload = await _intruder.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("x.txt", Uploads.Text("x"), workspaceId: _workspace));
        await upload.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "workspace.not_found");
        using var intoFolder = await _intruder.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("x.txt", Uploads.Text("x"), folderId: _folder));
        await intoFolder.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "folder.not_found");
        using var folder = await _intruder.Admin.Client.PostAsJsonAsync("/api/v1/folders", new { workspaceId = _workspace, name = "Mine now" });
        await folder.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "workspace.not_found");
        using var subfolder = await _intruder.Admin.Client.PostAsJsonAsync("/api/v1/folders",
            new { workspaceId = _intruder.DefaultWorkspaceId, parentId = _folder, name = "Mine now" });
        await subfolder.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity, "folder.not_found");
    }

    [Fact]
    public async Task A_refresh_token_names_its_tenant_and_cannot_be_replayed_as_another()
    {
        // Swap the tenant prefix of a valid refresh token for the other tenant's id: nothing matches there.
        var forged = _intruder.Id.ToString("N") + _owner.Admin.Tokens.RefreshToken[32..];
        using var response = await _intruder.App.CreateClient().PostAsJsonAsync("/api/v1/auth/refresh", new { refreshToken = forged });
        await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_refresh_token");
    }
}
