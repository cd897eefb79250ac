using System.Net;
using System.Net.Http.Json;
using Dms.Platform.Security;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Security;

/// <summary>
/// The permission matrix is read from docs/permissions.md and every cell is walked twice: against the rule in
/// code, and through the HTTP API with a user holding exactly that tenant role and workspace role.
/// </summary>
public sealed class PermissionMatrixTests(PermissionMatrixTests.Setup setup) : IClassFixture<PermissionMatrixTests.Setup>
{
    public static TheoryData<string, string, string, bool> WorkspaceCells()
    {
        var data = new TheoryData<string, string, string, bool>();
        foreach (var (column, action, allowed) in PermissionsDoc.Table("Workspace actions"))
        {
            var (tenantRole, workspaceRole) = SplitColumn(column);
            data.Add(tenantRole, workspaceRole, action, allowed);
        }
        return data;
    }

    public static TheoryData<string, string, bool> TenantCells()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var (role, action, allowed) in PermissionsDoc.Table("Tenant-wide actions"))
        {
            data.Add(role, action, allowed);
        }
        return data;
    }

    [Fact]
    public void The_documented_matrix_covers_every_role_and_action()
    {
        var cells = PermissionsDoc.Table("Workspace actions");
        cells.Select(c => c.Action).Distinct().Order().ShouldBe(Enum.GetNames<WorkspaceAction>().Order());
        cells.Select(c => SplitColumn(c.Column).TenantRole).Distinct().Order().ShouldBe(Roles.All.Order());
        // Every workspace role (and none) appears for the roles that can join workspaces.
        foreach (var tenantRole in new[] { Roles.Member })
        {
            cells.Where(c => SplitColumn(c.Column).TenantRole == tenantRole).Select(c => SplitColumn(c.Column).WorkspaceRole).Distinct().Order()
                .ShouldBe(WorkspaceRoles.All.Append("none").Order());
        }
        PermissionsDoc.Table("Tenant-wide actions").Select(c => c.Column).Distinct().Order().ShouldBe(Roles.All.Order());
    }

    [Theory]
    [MemberData(nameof(WorkspaceCells))]
    public void The_rule_in_code_matches_the_documented_cell(string tenantRole, string workspaceRole, string action, bool allowed) =>
        Permissions.Allows(tenantRole, workspaceRole == "none" ? null : workspaceRole, Enum.Parse<WorkspaceAction>(action)).ShouldBe(allowed);

    [Theory]
    [MemberData(nameof(WorkspaceCells))]
    public async Task Each_workspace_cell_holds_through_the_api(string tenantRole, string workspaceRole, string action, bool allowed)
    {
        var caller = await setup.UserAsync(tenantRole, workspaceRole);
        var readable = Permissions.Allows(tenantRole, workspaceRole == "none" ? null : workspaceRole, WorkspaceAction.Read);
        Task<List<(string What, HttpStatusCode Status)>> Walk(Target target) => action switch
        {
            nameof(WorkspaceAction.Read) => ReadAsync(caller, target),
            nameof(WorkspaceAction.Contribute) => ContributeAsync(caller, target),
            nameof(WorkspaceAction.ManageMembers) => ManageMembersAsync(caller, target),
            _ => throw new InvalidOperationException(action),
        };
        var answers = await Walk(setup.Real);
        // What the caller would get for ids that do not exist at all.
        var ghost = readable ? [] : await Walk(Target.Ghost());
        foreach (var (what, status) in answers)
        {
            if (allowed)
            {
                ((int)status).ShouldBeInRange(200, 299, $"{tenantRole}/{workspaceRole} {what}");
            }
            else if (tenantRole == Roles.Auditor)
            {
                status.ShouldBe(HttpStatusCode.Forbidden, $"{tenantRole}/{workspaceRole} {what}");
            }
            else if (!readable)
            {
                // No existence leak: a workspace one cannot read answers exactly like ids that do not exist.
                ((int)status).ShouldBeInRange(400, 499, $"{tenantRole}/{workspaceRole} {what}");
                status.ShouldBe(ghost.Single(g => g.What == what).Status, $"{tenantRole}/{workspaceRole} {what}: same answer as for unknown ids");
            }
            else
            {
                status.ShouldBe(HttpStatusCode.Forbidden, $"{tenantRole}/{workspaceRole} {what}");
            }
        }
        if (action == nameof(WorkspaceAction.Read) && tenantRole != Roles.Auditor)
        {
            var listed = await setup.ListedAsync(caller);
            listed.ShouldBe(allowed, $"{tenantRole}/{workspaceRole}: the document is listed and found by search only when readable");
        }
    }

    [Theory]
    [MemberData(nameof(TenantCells))]
    public async Task Each_tenant_wide_cell_holds_through_the_api(string role, string action, bool allowed)
    {
        var caller = role == Roles.Admin ? setup.Tenant.Admin : await setup.UserAsync(role, "none");
        var status = action switch
        {
            "ManageUsers" => await StatusAsync(caller.Client.GetAsync("/api/v1/users")),
            "CreateWorkspaces" => await StatusAsync(caller.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"ws {Guid.NewGuid():N}" })),
            "DecideApprovals" => await StatusAsync(caller.Client.PostAsJsonAsync($"/api/v1/approvals/{await setup.PendingRequestAsync()}/reject", new { reason = "matrix" })),
            "Trash" => await StatusAsync(caller.Client.GetAsync("/api/v1/trash")),
            "LegalHold" => await StatusAsync(caller.Client.PutAsJsonAsync($"/api/v1/documents/{setup.DefaultDocument}/legal-hold", new { enabled = false, reason = "matrix" })),
            "OutboxAdmin" => await StatusAsync(caller.Client.GetAsync("/api/v1/admin/outbox/dead")),
            "ReadAudit" => await StatusAsync(caller.Client.GetAsync("/api/v1/audit?limit=1")),
            _ => throw new InvalidOperationException(action),
        };
        if (allowed)
        {
            ((int)status).ShouldBeInRange(200, 299, $"{role} {action}");
        }
        else
        {
            // 404 where the caller may not even see the thing (another member's request), 403 otherwise.
            status.ShouldBeOneOf([HttpStatusCode.Forbidden, HttpStatusCode.NotFound], $"{role} {action}");
        }
    }

    private static async Task<List<(string What, HttpStatusCode Status)>> ReadAsync(SignedIn caller, Target t)
    {
        var c = caller.Client;
        var d = t.Document;
        return
        [
            ("GET /documents/{id}", await StatusAsync(c.GetAsync($"/api/v1/documents/{d}"))),
            ("GET /documents/{id}/versions", await StatusAsync(c.GetAsync($"/api/v1/documents/{d}/versions"))),
            ("GET /documents/{id}/content", await StatusAsync(c.GetAsync($"/api/v1/documents/{d}/content?redirect=false"))),
            ("GET /documents/{id}/approvals", await StatusAsync(c.GetAsync($"/api/v1/documents/{d}/approvals"))),
            ("GET /workspaces/{id}", await StatusAsync(c.GetAsync($"/api/v1/workspaces/{t.Workspace}"))),
            ("GET /workspaces/{id}/members", await StatusAsync(c.GetAsync($"/api/v1/workspaces/{t.Workspace}/members"))),
            ("GET /workspaces/{id}/folders", await StatusAsync(c.GetAsync($"/api/v1/workspaces/{t.Workspace}/folders"))),
            ("GET /folders/{id}", await StatusAsync(c.GetAsync($"/api/v1/folders/{t.Folder}"))),
        ];
    }

    private async Task<List<(string What, HttpStatusCode Status)>> ContributeAsync(SignedIn caller, Target t)
    {
        var c = caller.Client;
        var d = t.Document;
        var answers = new List<(string, HttpStatusCode)>
        {
            ("POST /documents", await StatusAsync(c.PostAsync("/api/v1/documents",
                Uploads.Form("matrix.txt", Uploads.Text("matrix"), "matrix upload", workspaceId: t.Workspace)))),
            ("POST /folders", await StatusAsync(c.PostAsJsonAsync("/api/v1/folders", new { workspaceId = t.Workspace, name = $"f {Guid.NewGuid():N}" }))),
        };
        using (var edit = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{d}") { Content = JsonContent.Create(new { description = $"edited {Guid.NewGuid():N}" }) })
        {
            edit.Headers.TryAddWithoutValidation("If-Match", t == setup.Real ? await setup.ETagAsync() : "\"1\"");
            answers.Add(("PATCH /documents/{id}", await StatusAsync(c.SendAsync(edit))));
        }
        using var request = await c.PostAsJsonAsync($"/api/v1/documents/{d}/delete-requests", new { reason = "matrix" });
        answers.Add(("POST /documents/{id}/delete-requests", request.StatusCode));
        if (request.IsSuccessStatusCode)
        {
            // Leave the document without a pending request for the next cell.
            var id = (await request.JsonAsync()).GetProperty("id").GetGuid();
            answers.Add(("POST /approvals/{id}/cancel", await StatusAsync(c.PostAsync($"/api/v1/approvals/{id}/cancel", null))));
        }
        return answers;
    }

    private async Task<List<(string What, HttpStatusCode Status)>> ManageMembersAsync(SignedIn caller, Target t)
    {
        var c = caller.Client;
        var w = t.Workspace;
        var spare = setup.Spare.UserId;
        var add = await StatusAsync(c.PostAsJsonAsync($"/api/v1/workspaces/{w}/members", new { userId = spare, role = "Viewer" }));
        var remove = await StatusAsync(c.DeleteAsync($"/api/v1/workspaces/{w}/members/{spare}"));
        return [("POST /workspaces/{id}/members", add), ("DELETE /workspaces/{id}/members/{userId}", remove)];
    }

    private static async Task<HttpStatusCode> StatusAsync(Task<HttpResponseMessage> send)
    {
        using var response = await send;
        if ((int)response.StatusCode >= 400)
        {
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        }
        return response.StatusCode;
    }

    private static (string TenantRole, string WorkspaceRole) SplitColumn(string column)
    {
        var parts = column.Split('/', StringSplitOptions.TrimEntries);
        return (parts[0], parts[1]);
    }

    /// <summary>The ids a cell is walked against: the real workspace, or ids that exist nowhere.</summary>
    internal sealed record Target(Guid Workspace, Guid Folder, Guid Document)
    {
        public static Target Ghost() => new(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
    }

    /// <summary>A tenant with a workspace holding one folder and one document, and one user per matrix column.</summary>
    public sealed class Setup : IAsyncLifetime
    {
        private readonly Dictionary<string, SignedIn> _users = [];
        private readonly SemaphoreSlim _lock = new(1, 1);

        internal TestTenant Tenant { get; private set; } = null!;
        internal Guid Workspace { get; private set; }
        internal Guid Folder { get; private set; }
        internal Guid Document { get; private set; }
        internal Guid DefaultDocument { get; private set; }
        internal SignedIn Spare { get; private set; } = null!;
        internal Target Real => new(Workspace, Folder, Document);
        private string _title = "";
        private SignedIn _requester = null!;

        public async Task InitializeAsync()
        {
            Tenant = await (await DmsApp.GetAsync()).CreateTenantAsync();
            var admin = Tenant.Admin.Client;
            using var ws = await admin.PostAsJsonAsync("/api/v1/workspaces", new { name = "Matrix" });
            Workspace = (await ws.JsonAsync()).GetProperty("id").GetGuid();
            using var folder = await admin.PostAsJsonAsync("/api/v1/folders", new { workspaceId = Workspace, name = "Cells" });
            Folder = (await folder.JsonAsync()).GetProperty("id").GetGuid();
            _title = $"matrixdoc{Guid.NewGuid():N}";
            using var doc = await admin.PostAsync("/api/v1/documents", Uploads.Form("cell.txt", Uploads.Text("cell"), _title, folderId: Folder));
            await doc.ShouldHaveStatusAsync(HttpStatusCode.Created);
            Document = (await doc.JsonAsync()).GetProperty("id").GetGuid();
            Spare = await Tenant.CreateUserAsync(Roles.Member);
            // The default policy is four-eyes by admins: the admin's own delete request needs another admin to exist.
            await Tenant.CreateUserAsync(Roles.Admin);
            _requester = await Tenant.CreateUserAsync(Roles.Member);
            using var other = await _requester.Client.PostAsync("/api/v1/documents", Uploads.Form("held.txt", Uploads.Text("held"), "held"));
            DefaultDocument = (await other.JsonAsync()).GetProperty("id").GetGuid();
        }

        public Task DisposeAsync() => Task.CompletedTask;

        internal async Task<SignedIn> UserAsync(string tenantRole, string workspaceRole)
        {
            if (tenantRole == Roles.Admin)
            {
                return Tenant.Admin;
            }
            await _lock.WaitAsync();
            try
            {
                var key = $"{tenantRole}/{workspaceRole}";
                if (!_users.TryGetValue(key, out var user))
                {
                    user = await Tenant.CreateUserAsync(tenantRole);
                    if (workspaceRole != "none")
                    {
                        using var add = await Tenant.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{Workspace}/members", new { userId = user.UserId, role = workspaceRole });
                        await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
                    }
                    _users[key] = user;
                }
                return user;
            }
            finally
            {
                _lock.Release();
            }
        }

        internal async Task<string> ETagAsync()
        {
            using var response = await Tenant.Admin.Client.GetAsync($"/api/v1/documents/{Document}");
            return response.Headers.ETag!.ToString();
        }

        /// <summary>Whether the document shows in the workspace listing and in a search for its title.</summary>
        internal async Task<bool> ListedAsync(SignedIn caller)
        {
            var inWorkspace = await caller.Client.GetStringAsync($"/api/v1/documents?workspaceId={Workspace}");
            var searched = await caller.Client.GetStringAsync($"/api/v1/documents?q={_title}");
            var all = await caller.Client.GetStringAsync("/api/v1/documents?limit=200");
            var hits = new[] { inWorkspace, searched, all }.Count(body => body.Contains(Document.ToString(), StringComparison.Ordinal));
            hits.ShouldBeOneOf([0, 3], "listing, search and the full list agree");
            return hits == 3;
        }

        /// <summary>A fresh pending delete request opened by a member (so nobody deciding it is its requester).</summary>
        internal async Task<Guid> PendingRequestAsync()
        {
            using var doc = await _requester.Client.PostAsync("/api/v1/documents", Uploads.Form("req.txt", Uploads.Text("req"), "req"));
            var documentId = (await doc.JsonAsync()).GetProperty("id").GetGuid();
            using var request = await _requester.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "matrix" });
            await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
            return (await request.JsonAsync()).GetProperty("id").GetGuid();
        }
    }
}

/// <summary>Reads the ✓/✗ tables of docs/permissions.md (copied beside the tests at build time).</summary>
internal static class PermissionsDoc
{
    public static List<(string Column, string Action, bool Allowed)> Table(string heading)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "permissions.md");
        File.Exists(path).ShouldBeTrue("docs/permissions.md is copied to the test output");
        var lines = File.ReadAllLines(path);
        var start = Array.FindIndex(lines, l => l.Trim() == $"## {heading}");
        start.ShouldBeGreaterThanOrEqualTo(0, $"docs/permissions.md has a '## {heading}' section");
        var rows = lines.Skip(start + 1).SkipWhile(l => !l.StartsWith('|')).TakeWhile(l => l.StartsWith('|'))
            .Select(l => l.Trim().Trim('|').Split('|').Select(cell => cell.Trim()).ToArray()).ToList();
        var header = rows[0];
        var cells = new List<(string, string, bool)>();
        foreach (var row in rows.Skip(2))
        {
            for (var i = 1; i < header.Length; i++)
            {
                row[i].ShouldBeOneOf(["✓", "✗"], $"cell {row[0]} × {header[i]}");
                cells.Add((header[i], row[0], row[i] == "✓"));
            }
        }
        return cells;
    }
}
