using System.IO.Compression;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using Shouldly;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Dms.EndToEnd;

/// <summary>
/// The whole document life in a real browser, two people at once: an admin and a member, each in their own
/// browser context (own cookies). Steps run in order because each builds on the last.
/// </summary>
public sealed partial class ScenarioTests(AppFixture app) : IClassFixture<AppFixture>
{
    private const string MemberEmail = "mia.member@e2e.test";
    private const string MemberPassword = "Member-Passw0rd!-e2e";
    private const string ViewerEmail = "val.viewer@e2e.test";
    private const string ViewerPassword = "Viewer-Passw0rd!-e2e";
    private const string SecondAdminEmail = "ada.admin@e2e.test";
    private const string ApproverEmail = "nina.named@e2e.test";
    private const string ApproverPassword = "Approver-Passw0rd!-e2e";
    private static readonly bool WriteDocScreenshots = Environment.GetEnvironmentVariable("DMS_WRITE_SCREENSHOTS") == "1";

    private readonly Dictionary<string, IPage> _pages = [];

    /// <summary>The step running, named in what the browser complains of.</summary>
    private string _step = "";

    /// <summary>What the browser complained about on any page: console errors (CSP among them) and failed sub-resources (a missing favicon).</summary>
    private readonly List<string> _complaints = [];

    [Fact]
    public async Task Admin_and_member_go_through_the_whole_document_life_in_the_browser()
    {
        var admin = await NewPageAsync("admin");
        var member = await NewPageAsync("member");
        var alpha = Encoding.UTF8.GetBytes("Alpha meeting notes\nline two\n" + new string('a', 200_000));
        var beta = Encoding.UTF8.GetBytes("Budget beta figures\n1,2,3\n");
        string documentUrl = "", pdfUrl = "";

        await Step("1-admin-creates-member", async () =>
        {
            await admin.GotoAsync("/login");
            await Shot(admin, "sign-in");
            await SignInAsync(admin, AppFixture.AdminEmail, AppFixture.AdminPassword);
            await admin.GotoAsync("/admin/users");
            await admin.GetByLabel("E-mail").FillAsync(MemberEmail);
            await admin.GetByLabel("Display name").FillAsync("Mia Member");
            await admin.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("Member");
            await admin.GetByLabel("Initial password").FillAsync(MemberPassword);
            await admin.GetByRole(AriaRole.Button, new() { Name = "Create user" }).ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync($"User {MemberEmail} created as Member");
            await Expect(admin.GetByTestId("users")).ToContainTextAsync(MemberEmail);

            // A member who may only read in General: a viewer there.
            await admin.GetByLabel("E-mail").FillAsync(ViewerEmail);
            await admin.GetByLabel("Display name").FillAsync("Val Viewer");
            await admin.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("Member");
            await admin.GetByLabel("Initial password").FillAsync(ViewerPassword);
            await admin.GetByRole(AriaRole.Button, new() { Name = "Create user" }).ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync($"User {ViewerEmail} created as Member");
            await Shot(admin, "admin-users");
            await AxeCleanAsync(admin);
            await admin.GotoAsync("/admin/workspaces");
            await admin.GetByLabel($"Workspace role of {ViewerEmail}").SelectOptionAsync("Viewer");
            await admin.GetByRole(AriaRole.Row).Filter(new() { HasText = ViewerEmail }).GetByRole(AriaRole.Button, new() { Name = "Change" }).ClickAsync();
            await Expect(admin.GetByLabel($"Workspace role of {ViewerEmail}")).ToHaveValueAsync("Viewer");
            await AxeCleanAsync(admin);

            // A group of approvers: created, named, joined by the member, all in words (no ids on screen).
            await admin.GotoAsync("/admin/groups");
            await admin.GetByLabel("Name", new() { Exact = true }).FillAsync("Reviewers");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Group Reviewers created.");
            await admin.GetByLabel("Add", new() { Exact = true }).SelectOptionAsync(new SelectOptionValue { Label = $"{MemberEmail} (Mia Member)" });
            await admin.GetByRole(AriaRole.Button, new() { Name = "Add member" }).ClickAsync();
            await Expect(admin.GetByTestId("group-members")).ToContainTextAsync(MemberEmail);
            await Shot(admin, "admin-groups");
            await AxeCleanAsync(admin);

            // Who am I: the organisation once, in words, not "Tenant: e2e (e2e)".
            await admin.GetByTestId("who").ClickAsync();
            await Expect(admin.Locator(".who-menu")).ToContainTextAsync($"Organisation: {AppFixture.Tenant}");
            await Expect(admin.Locator(".who-menu")).Not.ToContainTextAsync($"({AppFixture.Tenant})");
            await Expect(admin.Locator(".who-menu")).Not.ToContainTextAsync("Tenant:");
        });

        await Step("2-member-uploads-searches-downloads", async () =>
        {
            await SignInAsync(member, MemberEmail, MemberPassword);
            await Expect(member.GetByText("No documents here yet.")).ToBeVisibleAsync();
            await member.GetByTestId("file-picker").SetInputFilesAsync(
            [
                new FilePayload { Name = "alpha-notes.txt", MimeType = "text/plain", Buffer = alpha },
                new FilePayload { Name = "beta-budget.csv", MimeType = "text/csv", Buffer = beta },
            ]);
            var rows = member.Locator(".upload-row");
            await Expect(rows).ToHaveCountAsync(2);
            await Expect(rows.Locator("progress")).ToHaveCountAsync(2);
            await Expect(rows.Nth(0).GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            await Expect(rows.Nth(1).GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            (await rows.Nth(0).Locator("progress").GetAttributeAsync("value")).ShouldBe("100");
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("beta-budget");
            await Shot(member, "documents");
            await AxeCleanAsync(member);

            await member.GetByTestId("search").FillAsync("alpha");
            await Expect(member).ToHaveURLAsync(new Regex("q=alpha"));
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("alpha-notes");
            await Expect(member.GetByTestId("documents")).Not.ToContainTextAsync("beta-budget");
            await member.GetByRole(AriaRole.Link, new() { Name = "alpha-notes" }).ClickAsync();
            await Expect(member.GetByTestId("doc-title")).ToContainTextAsync("alpha-notes");
            documentUrl = member.Url;
            // Where it lives, and what kind of file it is, in words.
            await Expect(member.GetByTestId("doc-location").GetByRole(AriaRole.Link)).ToHaveTextAsync(["Documents", "General"]);
            await Expect(member.GetByTestId("doc-kind")).ToHaveTextAsync("Plain text");
            await AxeCleanAsync(member);

            var download = await member.RunAndWaitForDownloadAsync(() => member.GetByTestId("download").ClickAsync());
            download.SuggestedFilename.ShouldBe("alpha-notes.txt");
            var saved = Path.Combine(app.DataDirectory, "downloaded.txt");
            await download.SaveAsAsync(saved);
            (await File.ReadAllBytesAsync(saved)).ShouldBe(alpha);
        });

        await Step("3-member-requests-delete", async () =>
        {
            await member.GetByTestId("delete-reason").FillAsync("Superseded by the new minutes.");
            await member.GetByRole(AriaRole.Button, new() { Name = "Request delete" }).ClickAsync();
            await Expect(member.GetByTestId("pending")).ToContainTextAsync("Deletion requested");
            await Expect(member.GetByTestId("pending")).Not.ToContainTextAsync("”.");
            await Expect(member.GetByTestId("doc-status")).ToHaveTextAsync("Delete pending");
            await Expect(member.Locator("main")).Not.ToContainTextAsync("PendingDelete");
            await member.GotoAsync("/documents");
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("Delete pending");
            await Expect(member.GetByTestId("documents")).Not.ToContainTextAsync("PendingDelete");
            await member.GotoAsync(documentUrl);
            await Shot(member, "document");
        });

        await Step("4-admin-approves", async () =>
        {
            await admin.GotoAsync("/documents");
            await Expect(admin.GetByTestId("approvals-badge")).ToHaveTextAsync("1");
            await admin.GetByTestId("nav-approvals").ClickAsync();
            var request = admin.GetByTestId("request").Filter(new() { HasText = "alpha-notes" });
            await Expect(request).ToContainTextAsync("Superseded by the new minutes");
            await Expect(request).ToContainTextAsync("Mia Member");
            await Shot(admin, "approvals");
            await AxeCleanAsync(admin);
            await request.GetByTestId("approve").ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Approved");
        });

        await Step("5-member-sees-notification-and-document-gone", async () =>
        {
            // "Approved" arrives before "executed": wait for the notification that says the document went.
            await EventuallyAsync(member, "/notifications", async () =>
                await member.GetByTestId("notification").Filter(new() { HasText = "“alpha-notes” was deleted" }).CountAsync() > 0);
            await Expect(member.GetByTestId("bell-count")).ToBeVisibleAsync();
            await Expect(member.GetByTestId("notification").First).ToContainTextAsync("“alpha-notes” was deleted");
            await Expect(member.GetByTestId("notification").Filter(new() { HasText = "request for “alpha-notes” was approved" })).ToHaveCountAsync(1);
            await Shot(member, "notifications");
            await AxeCleanAsync(member);
            // Its "Open document" says plainly that the document was deleted, not that it never existed.
            await member.GetByTestId("notification").First.GetByRole(AriaRole.Link, new() { Name = "Open document" }).ClickAsync();
            await Expect(member.GetByTestId("gone")).ToContainTextAsync("“alpha-notes” was deleted");
            await Expect(member.GetByTestId("gone")).Not.ToContainTextAsync("does not exist");
            await Expect(member.GetByTestId("open-trash")).ToHaveCountAsync(0);
            await EventuallyAsync(member, "/documents", async () => !(await member.GetByTestId("documents").InnerTextAsync()).Contains("alpha-notes", StringComparison.Ordinal));
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("beta-budget");
        });

        await Step("6-admin-restores-from-trash", async () =>
        {
            await EventuallyAsync(admin, "/admin/trash", async () => await admin.GetByTestId("trash").CountAsync() > 0);
            await AxeCleanAsync(admin);
            // The admin's own notification names the document; opening it leads to its entry in the trash.
            await admin.GotoAsync("/notifications");
            var asked = admin.GetByTestId("notification").Filter(new() { HasText = "Delete requested for “alpha-notes”" });
            await Expect(asked).ToHaveCountAsync(1);
            await asked.GetByRole(AriaRole.Link, new() { Name = "Open document" }).ClickAsync();
            await Expect(admin.GetByTestId("gone")).ToContainTextAsync("“alpha-notes” was deleted");
            await admin.GetByTestId("open-trash").ClickAsync();
            await Expect(admin).ToHaveURLAsync(new Regex("/admin/trash#trash-"));
            await Expect(admin.Locator("tr:target")).ToContainTextAsync("alpha-notes");
            await admin.Locator("tr:target").GetByTestId("restore").ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Restored");
            await member.GotoAsync("/documents");
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("alpha-notes");
        });

        await Step("7-replace-rejected-with-reason", async () =>
        {
            await member.GotoAsync(documentUrl);
            await member.GetByTestId("replace-file").SetInputFilesAsync(new FilePayload { Name = "alpha-notes-v2.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("Alpha v2") });
            await member.GetByTestId("replace-reason").FillAsync("Corrected figures");
            await member.GetByRole(AriaRole.Button, new() { Name = "Request replace" }).ClickAsync();
            await Expect(member.GetByTestId("pending")).ToContainTextAsync("New version requested");

            // The requester can look at both sides of the pending replace.
            await Expect(member.GetByTestId("replace-review").GetByTestId("download-proposed")).ToBeVisibleAsync();

            await admin.GotoAsync("/approvals");
            var request = admin.GetByTestId("request").Filter(new() { HasText = "Corrected figures" });
            await Expect(request).ToContainTextAsync("alpha-notes-v2.txt");
            // The decider downloads the proposed file and the current one, side by side, before deciding.
            var proposed = await admin.RunAndWaitForDownloadAsync(() => request.GetByTestId("download-proposed").ClickAsync());
            proposed.SuggestedFilename.ShouldBe("alpha-notes-v2.txt");
            var proposedPath = Path.Combine(app.DataDirectory, "proposed.txt");
            await proposed.SaveAsAsync(proposedPath);
            (await File.ReadAllTextAsync(proposedPath)).ShouldBe("Alpha v2");
            var current = await admin.RunAndWaitForDownloadAsync(() => request.GetByTestId("download-current").ClickAsync());
            current.SuggestedFilename.ShouldBe("alpha-notes.txt");
            await request.GetByTestId("reject-reason").FillAsync("Figures still wrong on page 2");
            await request.GetByTestId("reject").ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Rejected");

            await member.GotoAsync("/approvals");
            await Expect(member.GetByTestId("request").Filter(new() { HasText = "Corrected figures" }).GetByTestId("decision-comment"))
                .ToHaveTextAsync("Figures still wrong on page 2");
            await Shot(member, "my-requests");
            await AxeCleanAsync(member);

            // The document's own audit panel tells its whole story, the deletion and the replace request included.
            await admin.GotoAsync(documentUrl);
            var story = admin.GetByTestId("doc-audit");
            await Expect(story).ToContainTextAsync("Uploaded the document");
            await Expect(story).ToContainTextAsync("Requested deletion");
            await Expect(story).ToContainTextAsync("Deleted the document (approved request)");
            await Expect(story).ToContainTextAsync("Restored from the trash");
            await Expect(story).ToContainTextAsync("Requested a replacement");
            await Expect(story).ToContainTextAsync("Rejected the request");
            await Expect(story).ToContainTextAsync(MemberEmail);
            await AxeCleanAsync(admin);
        });

        await Step("8-wrong-password", async () =>
        {
            var stranger = await NewPageAsync("stranger");
            await stranger.GotoAsync("/login");
            await stranger.GetByLabel("Organisation (tenant)").FillAsync(AppFixture.Tenant);
            await stranger.GetByLabel("E-mail").FillAsync(MemberEmail);
            await stranger.GetByLabel("Password").FillAsync("not-the-password");
            await stranger.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await Expect(stranger.GetByTestId("error")).ToHaveTextAsync("The organisation, e-mail or password is wrong.");
            await Expect(stranger).ToHaveURLAsync(new Regex("/login"));
        });

        await Step("9-admin-pages-and-security", async () =>
        {
            // The remaining admin pages work against the same data.
            await admin.GotoAsync("/admin/audit");
            await Expect(admin.GetByTestId("audit")).ToContainTextAsync("approval.");
            // Titles and e-mails, not ids cut to eight characters.
            await Expect(admin.GetByTestId("audit").GetByRole(AriaRole.Link, new() { Name = "alpha-notes" }).First).ToBeVisibleAsync();
            await Expect(admin.GetByTestId("audit")).ToContainTextAsync(MemberEmail);
            (await admin.GetByTestId("audit").InnerTextAsync()).ShouldNotMatch(@"[0-9a-f]{8}…");
            await AxeCleanAsync(admin);
            // "approval" finds the approval events without the exact dotted prefix.
            await admin.GetByLabel("Action").FillAsync("approval");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Filter" }).ClickAsync();
            var actions = admin.GetByTestId("audit").Locator("tbody tr");
            (await actions.CountAsync()).ShouldBeGreaterThan(2);
            foreach (var text in await actions.AllInnerTextsAsync())
            {
                text.ShouldContain("approval.");
            }
            await admin.GetByRole(AriaRole.Link, new() { Name = "Verify the chain" }).ClickAsync();
            await Expect(admin.GetByTestId("verify")).ToContainTextAsync("The chain is intact");
            await admin.GotoAsync("/admin/workspaces");
            await Expect(admin.GetByRole(AriaRole.Heading, new() { Name = "Members of General" })).ToBeVisibleAsync();
            await admin.GotoAsync("/admin/outbox");
            await Expect(admin.GetByText("No dead messages.")).ToBeVisibleAsync();
            await AxeCleanAsync(admin);

            // The API reference reads like one: a real title, a summary on every operation.
            var openApi = await admin.Context.APIRequest.GetAsync("/openapi/v1.json");
            var spec = System.Text.Json.JsonDocument.Parse(await openApi.TextAsync()).RootElement;
            spec.GetProperty("info").GetProperty("title").GetString().ShouldBe("DMS Enterprise API");
            await admin.GotoAsync("/swagger");
            // Swagger UI fetches and renders the whole document: on a CI machine busy with the other suite the server alone once
            // took 2.3 s to generate it, so the page gets longer than the default 5 s.
            await Expect(admin.Locator(".info .title")).ToContainTextAsync("DMS Enterprise API", new() { Timeout = 30_000 });
            await Expect(admin.Locator(".opblock-summary-description").First).ToBeVisibleAsync();
            (await admin.Locator(".opblock").CountAsync()).ShouldBe(await admin.Locator(".opblock-summary-description").CountAsync());

            // The sign-in cookie never authorises the API (bearer only), and pages carry their own CSP.
            var api = await member.Context.APIRequest.GetAsync("/api/v1/me");
            api.Status.ShouldBe(401);
            var page = await member.Context.APIRequest.GetAsync("/documents");
            page.Status.ShouldBe(200);
            page.Headers["content-security-policy"].ShouldContain("script-src 'self'");
            page.Headers["content-security-policy"].ShouldNotContain("unsafe-inline");

            // A refused file says why, on its own row.
            await member.GotoAsync("/documents");
            await member.GetByTestId("file-picker").SetInputFilesAsync(new FilePayload { Name = "tool.exe", MimeType = "application/octet-stream", Buffer = [0x4d, 0x5a, 0, 0] });
            await Expect(member.Locator(".upload-row.bad").GetByTestId("upload-status")).ToContainTextAsync("Files of this type are not accepted.");

            // A member is not an admin, in the UI either.
            await member.GotoAsync("/admin/users");
            await Expect(member.GetByRole(AriaRole.Heading, new() { Name = "Not allowed" })).ToBeVisibleAsync();

            // Signing out ends the session.
            await member.GetByTestId("who").ClickAsync();
            await member.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await Expect(member).ToHaveURLAsync(new Regex("/login"));
            await member.GotoAsync("/documents");
            await Expect(member).ToHaveURLAsync(new Regex("/login"));
        });

        await Step("10-filters-folders-stale-edit-and-404", async () =>
        {
            await SignInAsync(member, MemberEmail, MemberPassword);
            var rows = member.GetByTestId("documents").Locator("tbody tr");

            // Sort and filters change the list in place and live in the URL, which can be shared.
            await member.GetByTestId("sort").SelectOptionAsync("title");
            await Expect(member).ToHaveURLAsync(new Regex("sort=title"));
            await Expect(rows.First).ToContainTextAsync("alpha-notes");
            await member.GetByTestId("order").SelectOptionAsync("desc");
            await Expect(member).ToHaveURLAsync(new Regex("order=desc"));
            await Expect(rows.First).ToContainTextAsync("beta-budget");
            await member.GetByTestId("filter-type").SelectOptionAsync("pdf");
            await Expect(member).ToHaveURLAsync(new Regex("type=pdf"));
            await Expect(member.GetByText("No documents match.")).ToBeVisibleAsync();
            await member.GotoAsync(member.Url);
            await Expect(member.GetByTestId("filter-type")).ToHaveValueAsync("pdf");
            await Expect(member.GetByTestId("sort")).ToHaveValueAsync("title");

            // Workspace → folder → subfolder, with a breadcrumb, and an upload into the folder being browsed.
            await member.GotoAsync("/documents");
            await member.GetByRole(AriaRole.Link, new() { Name = "General", Exact = true }).ClickAsync();
            await member.GetByLabel("New folder name").FillAsync("Projects");
            await member.GetByRole(AriaRole.Button, new() { Name = "Create folder" }).ClickAsync();
            await Expect(member.GetByTestId("flash")).ToContainTextAsync("Folder Projects created");
            await member.GetByLabel("New folder name").FillAsync("2026");
            await member.GetByRole(AriaRole.Button, new() { Name = "Create folder" }).ClickAsync();
            await Expect(member.GetByTestId("breadcrumb").GetByRole(AriaRole.Link)).ToHaveTextAsync(["All workspaces", "General", "Projects"]);
            await Expect(member.GetByTestId("breadcrumb")).ToContainTextAsync("2026");
            await member.GetByTestId("file-picker").SetInputFilesAsync(new FilePayload { Name = "gamma-plan.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("Gamma plan") });
            await Expect(member.Locator(".upload-row").Last.GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("gamma-plan");
            await member.GetByTestId("breadcrumb").GetByRole(AriaRole.Link, new() { Name = "Projects" }).ClickAsync();
            await Expect(member.GetByText("No documents here yet.")).ToBeVisibleAsync();
            await member.GetByTestId("folders").GetByRole(AriaRole.Link, new() { Name = "2026" }).ClickAsync();
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("gamma-plan");
            await Shot(member, "folders");
            await AxeCleanAsync(member);
            await NoEmojiAsync(member);
            // The document page says which workspace and folder it is in.
            await member.GetByRole(AriaRole.Link, new() { Name = "gamma-plan" }).ClickAsync();
            await Expect(member.GetByTestId("doc-location").GetByRole(AriaRole.Link)).ToHaveTextAsync(["Documents", "General", "Projects", "2026"]);
            await member.GetByTestId("doc-location").GetByRole(AriaRole.Link, new() { Name = "Projects" }).ClickAsync();
            await Expect(member.GetByTestId("breadcrumb")).ToContainTextAsync("Projects");

            // Two people edit the same document: the second save is refused with the conflict message and the current values.
            await admin.GotoAsync(documentUrl);
            await member.GotoAsync(documentUrl);
            await admin.GetByLabel("Description").FillAsync("Edited by the admin");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Saved.");
            await member.GetByLabel("Description").FillAsync("Edited by the member");
            await member.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();
            await Expect(member.GetByText("Someone else changed this document while you were editing.")).ToBeVisibleAsync();
            await Expect(member.GetByLabel("Description")).ToHaveValueAsync("Edited by the admin");

            // An unknown address is a page a person can read, not an API error.
            var missing = await member.GotoAsync("/no-such-page");
            missing!.Status.ShouldBe(404);
            await Expect(member.GetByRole(AriaRole.Heading, new() { Name = "Page not found" })).ToBeVisibleAsync();
            await Expect(member.GetByRole(AriaRole.Link, new() { Name = "Go to documents" })).ToBeVisibleAsync();
        });

        await Step("11-viewer-is-offered-reading-only", async () =>
        {
            var viewer = await NewPageAsync("viewer");
            await SignInAsync(viewer, ViewerEmail, ViewerPassword);
            await Expect(viewer.GetByTestId("documents")).ToContainTextAsync("beta-budget");
            await Expect(viewer.GetByRole(AriaRole.Heading, new() { Name = "Upload" })).ToHaveCountAsync(0);
            await Expect(viewer.GetByTestId("file-picker")).ToHaveCountAsync(0);
            await viewer.GetByRole(AriaRole.Link, new() { Name = "General", Exact = true }).ClickAsync();
            await Expect(viewer.GetByTestId("folders")).ToContainTextAsync("Projects");
            await Expect(viewer.GetByRole(AriaRole.Button, new() { Name = "Create folder" })).ToHaveCountAsync(0);
            await Expect(viewer.GetByTestId("file-picker")).ToHaveCountAsync(0);
            await viewer.GetByTestId("folders").GetByRole(AriaRole.Link, new() { Name = "Projects" }).ClickAsync();
            await Expect(viewer.GetByText("No documents here yet.")).ToBeVisibleAsync();
            await Expect(viewer.Locator("#results")).ToContainTextAsync("Documents appear here once someone uploads them.");
            await Expect(viewer.Locator("#results")).Not.ToContainTextAsync("Drop files");
            await AxeCleanAsync(viewer);
            await viewer.GotoAsync(documentUrl);
            await Expect(viewer.GetByTestId("read-only")).ToBeVisibleAsync();
            await Expect(viewer.GetByRole(AriaRole.Button, new() { Name = "Save changes" })).ToHaveCountAsync(0);
            await Expect(viewer.GetByRole(AriaRole.Button, new() { Name = "Request delete" })).ToHaveCountAsync(0);
            await Expect(viewer.GetByTestId("download")).ToBeVisibleAsync();
            await AxeCleanAsync(viewer);
        });

        await Step("12-previews-are-views-and-types-are-words", async () =>
        {
            await member.GotoAsync("/documents");
            await member.GetByTestId("file-picker").SetInputFilesAsync(
            [
                // A long name without a break opportunity: the document page must still fit a phone.
                new FilePayload { Name = "delta_report_for_the_annual_general_meeting_2026.pdf", MimeType = "application/pdf", Buffer = LargePdf() },
                new FilePayload { Name = "epsilon-letter.docx", MimeType = "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Buffer = Docx() },
            ]);
            var rows = member.Locator(".upload-row");
            await Expect(rows.Nth(0).GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            await Expect(rows.Nth(1).GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });

            await member.GotoAsync("/documents?q=epsilon");
            await member.GetByRole(AriaRole.Link, new() { Name = "epsilon-letter" }).ClickAsync();
            await Expect(member.GetByTestId("doc-kind")).ToHaveTextAsync("Word document");
            await Expect(member.Locator("main")).Not.ToContainTextAsync("application/vnd");

            // Looking at a PDF (the viewer fetches it in ranges) is one view, not a download per piece.
            await member.GotoAsync("/documents?q=delta");
            await member.GetByRole(AriaRole.Link, new() { Name = "delta_report_for_the_annual_general_meeting_2026" }).ClickAsync();
            pdfUrl = member.Url;
            await Expect(member.Locator("iframe.preview")).ToBeVisibleAsync();
            await member.WaitForTimeoutAsync(3000);
            await admin.GotoAsync($"/admin/audit?entityId={pdfUrl[(pdfUrl.LastIndexOf('/') + 1)..]}");
            var events = admin.GetByTestId("audit").Locator("tbody tr");
            await Expect(events.Filter(new() { HasText = "document.viewed" })).ToHaveCountAsync(1);
            await Expect(events.Filter(new() { HasText = "document.downloaded" })).ToHaveCountAsync(0);
            await admin.GotoAsync("/admin/audit");
            await Shot(admin, "audit");
        });

        await Step("13-phone-width", async () =>
        {
            var phone = await NewPageAsync("phone", 390, 844);
            await SignInAsync(phone, MemberEmail, MemberPassword);
            // The first document is on the first screen, and nothing is wider than the screen: in the list of
            // everything, and inside a workspace, where the breadcrumb, folders and "New folder" come first too.
            await FirstDocumentOnTheFirstScreenAsync(phone);
            await ShouldFitTheWidthAsync(phone);
            await Shot(phone, "documents-phone");
            await AxeCleanAsync(phone);
            await phone.GetByRole(AriaRole.Link, new() { Name = "General", Exact = true }).ClickAsync();
            await Expect(phone.GetByTestId("folders")).ToContainTextAsync("Projects");
            await FirstDocumentOnTheFirstScreenAsync(phone);
            await ShouldFitTheWidthAsync(phone);
            await phone.GotoAsync(documentUrl);
            await ShouldFitTheWidthAsync(phone);
            await Shot(phone, "document-phone");
            await phone.GotoAsync(pdfUrl);
            await Expect(phone.GetByTestId("doc-kind")).ToHaveTextAsync("PDF document");
            await ShouldFitTheWidthAsync(phone);
            await phone.GotoAsync("/approvals");
            await ShouldFitTheWidthAsync(phone);
        });

        await Step("13b-password-reset-and-change", async () =>
        {
            // The admin resets the viewer's password: the temporary one is shown once, on that response only.
            await admin.GotoAsync("/admin/users");
            await admin.GetByRole(AriaRole.Button, new() { Name = $"Reset password of {ViewerEmail}" }).ClickAsync();
            var shown = await admin.GetByTestId("temporary-password").InnerTextAsync();
            var temporary = Regex.Match(shown, @"Temporary password for \S+: (\S+)").Groups[1].Value;
            temporary.Length.ShouldBe(20, shown);
            await AxeCleanAsync(admin);
            await admin.GotoAsync("/admin/users");
            await Expect(admin.GetByTestId("temporary-password")).ToHaveCountAsync(0);

            // Signing in with it leads to the change-password page, and every other page leads back there.
            var returning = await NewPageAsync("viewer-reset");
            await returning.GotoAsync("/login");
            await returning.GetByLabel("Organisation (tenant)").FillAsync(AppFixture.Tenant);
            await returning.GetByLabel("E-mail").FillAsync(ViewerEmail);
            await returning.GetByLabel("Password").FillAsync(temporary);
            await returning.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await Expect(returning).ToHaveURLAsync(new Regex("/account/password"));
            await Expect(returning.GetByTestId("password-required")).ToBeVisibleAsync();
            await returning.GotoAsync("/notifications");
            await Expect(returning).ToHaveURLAsync(new Regex("/account/password"));
            await AxeCleanAsync(returning);

            // A common password is refused in words; then the viewer's own is taken and the documents open.
            await returning.GetByLabel("Current password").FillAsync(temporary);
            await returning.GetByLabel("New password", new() { Exact = true }).FillAsync("password123");
            await returning.GetByLabel("New password again").FillAsync("password123");
            await returning.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
            await Expect(returning.GetByTestId("error")).ToContainTextAsync("most common");
            await returning.GetByLabel("Current password").FillAsync(temporary);
            await returning.GetByLabel("New password", new() { Exact = true }).FillAsync(ViewerPassword + "-2");
            await returning.GetByLabel("New password again").FillAsync(ViewerPassword + "-2");
            await returning.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
            await Expect(returning).ToHaveURLAsync(new Regex("/documents$"));
            await Expect(returning.GetByTestId("flash")).ToContainTextAsync("Your password is changed");
            await returning.Context.CloseAsync();
        });

        await Step("13c-two-stage-approval-policy", async () =>
        {
            // A second admin and a named approver; the policy of General: deletes need an admin (stage 1), then Nina (stage 2).
            await admin.GotoAsync("/admin/users");
            foreach (var (email, name, role) in new[] { (SecondAdminEmail, "Ada Admin", "Admin"), (ApproverEmail, "Nina Named", "Member") })
            {
                await admin.GetByLabel("E-mail").FillAsync(email);
                await admin.GetByLabel("Display name").FillAsync(name);
                await admin.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync(role);
                await admin.GetByLabel("Initial password").FillAsync(ApproverPassword);
                await admin.GetByRole(AriaRole.Button, new() { Name = "Create user" }).ClickAsync();
                await Expect(admin.GetByTestId("flash")).ToContainTextAsync($"User {email} created");
            }
            await admin.GotoAsync("/admin/workspaces");
            await admin.GetByTestId("policy-link").ClickAsync();
            await Expect(admin.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Approval policy of General");
            await Expect(admin.GetByTestId("policy-state")).ToContainTextAsync("default policy");
            // A problem shows next to its operation and keeps what was typed: a stage named but with nobody to approve.
            await admin.GetByTestId("stage-delete-1").GetByLabel("Name").FillAsync("Finance");
            await admin.GetByTestId("save-policy").ClickAsync();
            await Expect(admin.GetByTestId("error")).ToContainTextAsync("not saved");
            await Expect(admin.GetByTestId("problems-delete")).ToContainTextAsync("Stage 2: Name who approves");
            await Expect(admin.GetByTestId("stage-delete-1").GetByLabel("Name")).ToHaveValueAsync("Finance");
            await AxeCleanAsync(admin);
            await admin.GetByTestId("mode-delete-approval").CheckAsync();
            await admin.GetByTestId("stage-delete-0").GetByLabel("Name").FillAsync("Admins");
            await admin.GetByTestId("admins-delete-0").CheckAsync();
            await admin.GetByTestId("stage-delete-1").GetByLabel("Name").FillAsync("Finance");
            await admin.GetByTestId("users-delete-1").SelectOptionAsync(new SelectOptionValue { Label = $"{ApproverEmail} (Nina Named)" });
            await admin.GetByTestId("save-policy").ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Approval policy saved");
            await Expect(admin.GetByTestId("policy-state")).ToContainTextAsync("Changed for this workspace");
            await Expect(admin.GetByTestId("stage-delete-1").GetByLabel("Name")).ToHaveValueAsync("Finance");
            await Expect(admin.GetByTestId("users-delete-1").Locator("option:checked")).ToHaveTextAsync($"{ApproverEmail} (Nina Named)");
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "policy-editor-desktop");
            var policyUrl = admin.Url;

            // A member's delete request goes through both stages.
            await member.GotoAsync("/documents");
            await member.GetByTestId("file-picker").SetInputFilesAsync(new FilePayload { Name = "omega-drop.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("Omega plan") });
            await Expect(member.Locator(".upload-row").Last.GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            await member.GotoAsync("/documents?q=omega");
            await member.GetByRole(AriaRole.Link, new() { Name = "omega-drop" }).ClickAsync();
            var omegaUrl = member.Url;
            await member.GetByTestId("delete-reason").FillAsync("Plan dropped");
            await member.GetByRole(AriaRole.Button, new() { Name = "Request delete" }).ClickAsync();
            await Expect(member.GetByTestId("pending-stage")).ToContainTextAsync("Stage 1 of 2 (Admins)");
            // Off the page before it is deleted: the page's own refresh would meet a 404.
            await member.GotoAsync("/documents");

            var ada = await NewPageAsync("ada");
            await SignInAsync(ada, SecondAdminEmail, ApproverPassword);
            await ada.GotoAsync("/approvals");
            var request = ada.GetByTestId("request").Filter(new() { HasText = "Plan dropped" });
            await Expect(request.GetByTestId("stage")).ToContainTextAsync("Stage 1 of 2 · Admins · 0 of 1 approval");
            await ReviewShot(ada, "approvals-stage1-desktop");
            await request.GetByTestId("approve").ClickAsync();
            await Expect(ada.GetByTestId("flash")).ToContainTextAsync("moves on to stage 2 of 2 (Finance)");
            await ada.Context.CloseAsync();
            _pages.Remove("ada");

            var nina = await NewPageAsync("nina");
            await SignInAsync(nina, ApproverEmail, ApproverPassword);
            await nina.GotoAsync("/approvals");
            request = nina.GetByTestId("request").Filter(new() { HasText = "Plan dropped" });
            await Expect(request.GetByTestId("stage")).ToContainTextAsync("Stage 2 of 2 · Finance · 0 of 1 approval");
            await Expect(request.GetByTestId("votes")).ToContainTextAsync("approved");
            await AxeCleanAsync(nina);
            await ReviewShot(nina, "approvals-stage2-desktop");
            await nina.SetViewportSizeAsync(390, 844);
            await ShouldFitTheWidthAsync(nina);
            await ReviewShot(nina, "approvals-stage2-phone", fullPage: true);
            await request.GetByTestId("approve").ClickAsync();
            await Expect(nina.GetByTestId("flash")).ToContainTextAsync("being carried out");

            // Out of office: Nina lets Mia (who shares her workspace) decide in her name, sees it, and ends it.
            await nina.SetViewportSizeAsync(1280, 860);
            await nina.GotoAsync("/account/delegation");
            await Expect(nina.GetByTestId("no-delegation")).ToBeVisibleAsync();
            await nina.GetByTestId("delegate").SelectOptionAsync(new SelectOptionValue { Label = $"{MemberEmail} (Mia Member)" });
            await nina.GetByLabel("Until (UTC)").FillAsync($"{DateTime.UtcNow.Year + 1}-01-01T12:00");
            await nina.GetByTestId("save-delegation").ClickAsync();
            await Expect(nina.GetByTestId("flash")).ToContainTextAsync("Delegation saved");
            await Expect(nina.GetByTestId("current-delegation")).ToContainTextAsync($"Now {MemberEmail}");
            await AxeCleanAsync(nina);
            await nina.GetByTestId("end-delegation").ClickAsync();
            await Expect(nina.GetByTestId("no-delegation")).ToBeVisibleAsync();
            await nina.Context.CloseAsync();
            _pages.Remove("nina");

            await EventuallyAsync(admin, "/admin/trash", async () => await admin.GetByTestId("trash").Filter(new() { HasText = "omega-drop" }).CountAsync() > 0);
            await member.GotoAsync(omegaUrl);
            await Expect(member.GetByTestId("gone")).ToContainTextAsync("was deleted");

            // A member reads the policy, read-only.
            await member.GotoAsync(policyUrl);
            await Expect(member.GetByTestId("read-only")).ToBeVisibleAsync();
            await Expect(member.GetByTestId("save-policy")).ToHaveCountAsync(0);

            await admin.GotoAsync(policyUrl);
            await admin.SetViewportSizeAsync(390, 844);
            await ShouldFitTheWidthAsync(admin);
            await ReviewShot(admin, "policy-editor-phone", fullPage: true);
            await admin.SetViewportSizeAsync(1280, 860);

            // A policy nobody can satisfy (5 approvals from the one person of stage 2): the request is refused with the way out.
            await admin.GetByTestId("stage-delete-1").GetByLabel("Approvals needed").FillAsync("5");
            await admin.GetByTestId("save-policy").ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Approval policy saved");
            await member.GotoAsync(documentUrl);
            await member.GetByTestId("delete-reason").FillAsync("Nobody can approve this");
            await member.GetByRole(AriaRole.Button, new() { Name = "Request delete" }).ClickAsync();
            await Expect(member.GetByTestId("no-approvers")).ToBeVisibleAsync();
            await Expect(member.GetByTestId("no-approvers")).ToContainTextAsync("Ask an admin");
            await AxeCleanAsync(member);
            await admin.GetByRole(AriaRole.Button, new() { Name = "Go back to the default policy" }).ClickAsync();
            await Expect(admin.GetByTestId("policy-state")).ToContainTextAsync("default policy");
        });

        await Step("13d-webhooks-and-notification-settings", async () =>
        {
            // An admin registers a webhook (the app allows loopback targets here; nothing listens on port 9): the secret is
            // shown once, a test event is tried and its failed attempt shows in the delivery log in words.
            await admin.GotoAsync("/admin/webhooks");
            await Expect(admin.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Webhooks");
            await admin.GetByLabel("Address (https://…)").FillAsync("http://127.0.0.1:9/dms-events");
            await admin.GetByLabel("Description").FillAsync("Archive sync");
            await admin.GetByLabel("Document created").CheckAsync();
            await admin.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
            await Expect(admin.GetByTestId("new-secret")).ToContainTextAsync("whsec_");
            await Expect(admin.GetByTestId("webhook-state")).ToBeVisibleAsync();
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "webhooks-created-desktop", fullPage: true);
            await admin.GetByRole(AriaRole.Button, new() { Name = "Send test event" }).ClickAsync();
            await EventuallyAsync(admin, admin.Url, async () => await admin.GetByTestId("deliveries").Locator("summary").CountAsync() > 0);
            await Expect(admin.GetByTestId("new-secret")).ToHaveCountAsync(0);
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "webhooks-log-desktop", fullPage: true);

            // A member turns e-mail off for one kind; the page says mail is not configured on this server.
            await member.GotoAsync("/account/notifications");
            await Expect(member.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Notification settings");
            await Expect(member.GetByTestId("mail-not-configured")).ToBeVisibleAsync();
            await member.GetByLabel("Request carried out by e-mail").UncheckAsync();
            await member.GetByTestId("save-preferences").ClickAsync();
            await Expect(member.GetByTestId("flash")).ToContainTextAsync("Your notification settings are saved.");
            await Expect(member.GetByLabel("Request carried out by e-mail")).Not.ToBeCheckedAsync();
            await Expect(member.GetByLabel("Request carried out in the app")).ToBeCheckedAsync();
            await AxeCleanAsync(member);
            var phone = await NewPageAsync("phone-settings", 390, 844);
            await SignInAsync(phone, MemberEmail, MemberPassword);
            await phone.GotoAsync("/account/notifications");
            await ShouldFitTheWidthAsync(phone);
            await AxeCleanAsync(phone);
            await ReviewShot(phone, "notification-settings-phone", fullPage: true);
            // The webhooks page at phone width, with its delivery log.
            await admin.SetViewportSizeAsync(390, 844);
            await admin.GotoAsync("/admin/webhooks");
            await admin.GetByRole(AriaRole.Link, new() { Name = "http://127.0.0.1:9/dms-events" }).ClickAsync();
            await Expect(admin.GetByTestId("deliveries")).ToBeVisibleAsync();
            await ShouldFitTheWidthAsync(admin);
            await ReviewShot(admin, "webhooks-phone", fullPage: true);
            await admin.SetViewportSizeAsync(1280, 860);
        });

        await Step("13e-types-views-bulk-comments-and-a-share-link", async () =>
        {
            // An admin defines a document type with a required date field.
            await admin.GotoAsync("/admin/document-types");
            await admin.GetByLabel("Name", new() { Exact = true }).FillAsync("Invoice");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Create type" }).ClickAsync();
            await Expect(admin.GetByTestId("document-types")).ToContainTextAsync("Invoice");
            await admin.GetByLabel("New field label").FillAsync("Due date");
            await admin.GetByLabel("New field key").FillAsync("due");
            await admin.GetByLabel("New field kind").SelectOptionAsync(new SelectOptionValue { Label = "Date" });
            await admin.GetByLabel("New field is required").CheckAsync();
            await admin.GetByRole(AriaRole.Button, new() { Name = "Save fields" }).ClickAsync();
            await Expect(admin.GetByLabel("Label of Due date")).ToHaveValueAsync("Due date");
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "document-types-desktop", fullPage: true);

            // The member uploads a letter without a type, then an invoice straight into the type, due on Christmas Eve.
            await member.GotoAsync("/documents");
            await member.GetByTestId("file-picker").SetInputFilesAsync(
                new FilePayload { Name = "letter-7.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("A letter, not an invoice") });
            await Expect(member.Locator(".upload-row").Last.GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            await member.GotoAsync("/documents");
            await member.GetByTestId("upload-type").SelectOptionAsync(new SelectOptionValue { Label = "Invoice" });
            await Expect(member.GetByRole(AriaRole.Group, new() { Name = "Values for Invoice" })).ToBeVisibleAsync();
            await member.GetByLabel("Due date (required)").FillAsync("2026-12-24");
            await AxeCleanAsync(member);
            await ReviewShot(member, "upload-into-type-desktop", fullPage: true);
            await member.GetByTestId("file-picker").SetInputFilesAsync(
                new FilePayload { Name = "invoice-42.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("Invoice 42: 1,200 EUR") });
            await Expect(member.Locator(".upload-row").Last.GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });
            await member.GotoAsync("/documents?q=invoice-42");
            await member.GetByRole(AriaRole.Link, new() { Name = "invoice-42" }).ClickAsync();
            var invoiceUrl = member.Url;
            await Expect(member.GetByTestId("document-fields")).ToContainTextAsync("Invoice");
            await Expect(member.GetByTestId("document-fields")).ToContainTextAsync("24 Dec 2026");
            await AxeCleanAsync(member);

            // Filter the list by the field: only the invoice is left. Then save that as a pinned view.
            await member.GotoAsync("/documents");
            await member.GetByLabel("Filter by document type").SelectOptionAsync(new SelectOptionValue { Label = "Invoice" });
            await member.GetByRole(AriaRole.Button, new() { Name = "Search", Exact = true }).ClickAsync();
            await member.GetByLabel("Filter by field").SelectOptionAsync(new SelectOptionValue { Label = "Due date" });
            await member.GetByLabel("Field value").FillAsync("2026-12-24");
            await member.GetByRole(AriaRole.Button, new() { Name = "Search", Exact = true }).ClickAsync();
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("invoice-42");
            await Expect(member.GetByTestId("documents")).Not.ToContainTextAsync("letter-7");
            await Expect(member.GetByTestId("documents")).Not.ToContainTextAsync("beta-budget");
            await member.GetByTestId("save-view").Locator("summary").ClickAsync();
            await member.GetByLabel("View name").FillAsync("Invoices due at Christmas");
            await member.GetByLabel("Pin to my home page").CheckAsync();
            await member.GetByRole(AriaRole.Button, new() { Name = "Save view" }).ClickAsync();
            await Expect(member.GetByTestId("flash")).ToContainTextAsync("saved and pinned");
            await member.GotoAsync("/");
            var pinned = member.GetByTestId("pinned-views");
            await Expect(pinned).ToContainTextAsync("Invoices due at Christmas");
            await Expect(pinned.GetByTestId("view-count")).ToHaveTextAsync("1 document");
            await AxeCleanAsync(member);
            await ReviewShot(member, "home-desktop", fullPage: true);
            await pinned.GetByRole(AriaRole.Link, new() { Name = "Invoices due at Christmas" }).ClickAsync();
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("invoice-42");
            await Expect(member.GetByTestId("documents")).Not.ToContainTextAsync("letter-7");

            // Bulk: tick both new documents and tag them; the job page reports each in words.
            await member.GotoAsync("/documents");
            await member.GetByLabel("Select invoice-42").CheckAsync();
            await member.GetByLabel("Select letter-7").CheckAsync();
            await member.GetByLabel("Tags to add or remove").FillAsync("paid");
            await member.GetByTestId("bulk-addTags").ClickAsync();
            await Expect(member.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("Add tags");
            await Expect(member.Locator("main")).ToContainTextAsync("2 done", new() { Timeout = 30_000 });
            await AxeCleanAsync(member);
            await ReviewShot(member, "bulk-job-desktop", fullPage: true);
            await member.GotoAsync("/documents?tag=paid");
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("invoice-42");
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("letter-7");

            // A comment that mentions the admin reaches the admin's notifications.
            await member.GotoAsync(invoiceUrl);
            await member.GetByTestId("comment-text").FillAsync($"Paid by bank transfer, @{AppFixture.AdminEmail} please file it.");
            await member.GetByTestId("comment-post").ClickAsync();
            await Expect(member.GetByTestId("comment")).ToContainTextAsync("Paid by bank transfer");
            await AxeCleanAsync(member);
            await EventuallyAsync(admin, "/notifications", async () =>
                await admin.GetByTestId("notification").Filter(new() { HasText = "mentioned you on “invoice-42”" }).CountAsync() > 0);

            // A share link, opened in a fresh browser that has never signed in: the file's name, size and a download, nothing else.
            await member.GotoAsync(invoiceUrl);
            await member.GetByTestId("open-shares").ClickAsync();
            await member.GetByTestId("share-create").ClickAsync();
            var shareUrl = await member.GetByTestId("share-url").InputValueAsync();
            shareUrl.ShouldContain("/s/");
            await AxeCleanAsync(member);
            var outsider = await NewPageAsync("outsider");
            await outsider.GotoAsync(shareUrl);
            await Expect(outsider.GetByTestId("share-file-name")).ToHaveTextAsync("invoice-42.txt");
            await Expect(outsider.GetByTestId("share-file-size")).ToBeVisibleAsync();
            // Nothing about the organisation: no people, no workspace.
            var sharePage = await outsider.Locator("body").InnerTextAsync();
            sharePage.ShouldNotContain(MemberEmail);
            sharePage.ShouldNotContain(AppFixture.AdminEmail);
            sharePage.ShouldNotContain("General");
            await AxeCleanAsync(outsider);
            var shared = await outsider.RunAndWaitForDownloadAsync(() => outsider.GetByTestId("share-download").ClickAsync());
            shared.SuggestedFilename.ShouldBe("invoice-42.txt");
            var sharedPath = Path.Combine(app.DataDirectory, "shared.txt");
            await shared.SaveAsAsync(sharedPath);
            (await File.ReadAllTextAsync(sharedPath)).ShouldBe("Invoice 42: 1,200 EUR");
            await ReviewShot(outsider, "share-page-desktop", fullPage: true);
        });

        await Step("13f-plan-limits-usage-and-a-failed-payment", async () =>
        {
            // The platform operator gives the organisation a plan with every seat taken and 64 KB of storage to spare.
            using var http = new HttpClient { BaseAddress = app.BaseAddress };
            using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = AppFixture.Tenant, email = AppFixture.AdminEmail, password = AppFixture.AdminPassword });
            login.EnsureSuccessStatusCode();
            var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
            using var usageRequest = new HttpRequestMessage(HttpMethod.Get, "/api/v1/tenant/usage");
            usageRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var usageResponse = await http.SendAsync(usageRequest);
            usageResponse.EnsureSuccessStatusCode();
            var usage = await usageResponse.Content.ReadFromJsonAsync<JsonElement>();
            var seatsUsed = usage.GetProperty("seats").GetProperty("used").GetInt32();
            var usedBytes = usage.GetProperty("storage").GetProperty("usedBytes").GetInt64();
            using var platform = new HttpClient { BaseAddress = app.BaseAddress };
            platform.DefaultRequestHeaders.Add("X-Platform-Key", AppFixture.PlatformKey);
            using var plan = await platform.PostAsJsonAsync("/api/v1/platform/plans",
                new { name = "Team", seats = seatsUsed, storageBytes = usedBytes + 64 * 1024, features = new { shareLinks = true } });
            plan.EnsureSuccessStatusCode();
            var planId = (await plan.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
            (await platform.PutAsJsonAsync($"/api/v1/platform/tenants/{AppFixture.Tenant}/plan", new { planId })).EnsureSuccessStatusCode();

            // The admin sees the plan, the trial and both bars.
            await admin.GotoAsync("/admin/usage");
            await Expect(admin.GetByTestId("plan-name")).ToHaveTextAsync("Team");
            await Expect(admin.GetByTestId("subscription-state")).ToContainTextAsync("Trial ends");
            await Expect(admin.GetByTestId("seats-text")).ToContainTextAsync($"{seatsUsed} of {seatsUsed} seats");
            await Expect(admin.Locator("#storage-meter")).ToBeVisibleAsync();
            await Expect(admin.GetByTestId("storage-text")).ToContainTextAsync(" of ");
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "usage-desktop", fullPage: true);

            // Every seat is taken: the users page says so, and a new user is refused with the reason.
            await admin.GotoAsync("/admin/users");
            await Expect(admin.GetByTestId("seats")).ToContainTextAsync($"{seatsUsed} of {seatsUsed} seats used");
            await admin.GetByLabel("E-mail").FillAsync("one.too.many@e2e.test");
            await admin.GetByLabel("Display name").FillAsync("One Too Many");
            await admin.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("Member");
            await admin.GetByLabel("Initial password").FillAsync("One-Too-Many-Passw0rd!");
            await admin.GetByRole(AriaRole.Button, new() { Name = "Create user" }).ClickAsync();
            await Expect(admin.GetByTestId("error")).ToContainTextAsync($"All {seatsUsed} seats of the plan are taken");
            await Expect(admin.GetByTestId("users")).Not.ToContainTextAsync("one.too.many@e2e.test");
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "users-seats-full-desktop", fullPage: true);

            // The upload area says how much space is left; a file bigger than that is refused with the reason, a small one fits.
            await member.GotoAsync("/documents");
            await Expect(member.GetByTestId("storage-left")).ToContainTextAsync("left");
            await member.GetByTestId("file-picker").SetInputFilesAsync(
                new FilePayload { Name = "too-big.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes(new string('x', 100 * 1024)) });
            await Expect(member.Locator(".upload-row").Last.GetByTestId("upload-status")).ToContainTextAsync("Not enough storage left", new() { Timeout = 30_000 });
            await AxeCleanAsync(member);
            await ReviewShot(member, "upload-over-quota-desktop", fullPage: true);
            await member.GotoAsync("/documents");
            await member.GetByTestId("file-picker").SetInputFilesAsync(
                new FilePayload { Name = "small-note.txt", MimeType = "text/plain", Buffer = Encoding.UTF8.GetBytes("Fits in the plan") });
            await Expect(member.Locator(".upload-row").Last.GetByTestId("upload-status")).ToContainTextAsync("Uploaded", new() { Timeout = 30_000 });

            // A failed payment: every page of the organisation says what happens next; a later payment clears it.
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            await SendBillingEventAsync(http, $"evt-fail-{now}", "payment.failed", now);
            await member.GotoAsync("/documents");
            await Expect(member.GetByTestId("subscription-banner")).ToContainTextAsync("Payment failed");
            await AxeCleanAsync(member);
            await admin.GotoAsync("/admin/usage");
            await Expect(admin.GetByTestId("subscription-state")).ToContainTextAsync("Payment failed");
            await admin.SetViewportSizeAsync(390, 844);
            await admin.GotoAsync("/admin/usage");
            await ShouldFitTheWidthAsync(admin);
            await AxeCleanAsync(admin);
            await ReviewShot(admin, "usage-phone", fullPage: true);
            await admin.SetViewportSizeAsync(1280, 860);
            await SendBillingEventAsync(http, $"evt-paid-{now}", "payment.succeeded", now + 1);
            await member.GotoAsync("/documents");
            await Expect(member.GetByTestId("subscription-banner")).ToHaveCountAsync(0);
        });

        await Step("14-no-console-errors-no-missing-files", async () =>
        {
            // The page names its icon, and both the icon and the classic /favicon.ico answer.
            var icon = await member.Locator("link[rel=icon]").GetAttributeAsync("href");
            icon.ShouldNotBeNull();
            (await member.Context.APIRequest.GetAsync(icon)).Status.ShouldBe(200);
            (await member.Context.APIRequest.GetAsync("/favicon.ico")).Status.ShouldBe(200);
            _complaints.ShouldBeEmpty(string.Join("\n", _complaints.Select(c => c[..Math.Min(c.Length, 300)])));
        });

        if (WriteDocScreenshots)
        {
            await admin.GotoAsync(documentUrl);
            await Shot(admin, "document-admin", fullPage: true);
        }
    }

    /// <summary>An event from the billing provider, signed as the contract says (HMAC-SHA256 of "{t}.{body}").</summary>
    private static async Task SendBillingEventAsync(HttpClient http, string id, string type, long created)
    {
        var body = JsonSerializer.Serialize(new { id, type, created, data = new { tenant = AppFixture.Tenant } });
        var t = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(AppFixture.BillingSecret), Encoding.UTF8.GetBytes($"{t}.{body}")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/billing/webhook") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Billing-Signature", $"t={t},v1={signature}");
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>axe-core finds no accessibility violation on the page as it is now.</summary>
    private static async Task AxeCleanAsync(IPage page)
    {
        var result = await page.RunAxe();
        var violations = result.Violations.Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target?.ToString()))}").ToList();
        violations.ShouldBeEmpty($"axe-core on {page.Url}");
    }

    /// <summary>Emoji need an emoji font, which many machines lack: they show as empty boxes. Icons are inline SVG.</summary>
    private static async Task NoEmojiAsync(IPage page)
    {
        var html = await page.ContentAsync();
        Regex.Matches(html, @"[\u2600-\u27BF]|[\uD83C-\uD83E][\uDC00-\uDFFF]").Select(m => m.Value).ShouldBeEmpty($"emoji on {page.Url}");
    }

    private static async Task FirstDocumentOnTheFirstScreenAsync(IPage page)
    {
        var first = await page.GetByTestId("documents").Locator("tbody tr").First.BoundingBoxAsync();
        first.ShouldNotBeNull();
        (first.Y + first.Height).ShouldBeLessThan(page.ViewportSize!.Height, $"the first document row on {page.Url} must show without scrolling");
    }

    private static async Task ShouldFitTheWidthAsync(IPage page)
    {
        var (scroll, client) = (await page.EvaluateAsync<int>("document.documentElement.scrollWidth"), await page.EvaluateAsync<int>("document.documentElement.clientWidth"));
        // Names the widest elements that stick out, so a failure says what to fix.
        var culprits = scroll <= client ? "" : await page.EvaluateAsync<string>("""
            () => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().replace(/\s+/g, '.') : '') + ' ' + Math.round(e.getBoundingClientRect().right))
                .slice(0, 12).join(', ')
            """);
        scroll.ShouldBeLessThanOrEqualTo(client, $"{page.Url} is wider than the screen: {culprits}");
    }

    /// <summary>A real, several-megabyte PDF: big enough that Chromium's viewer fetches it in ranges.</summary>
    private static byte[] LargePdf()
    {
        var padding = new string(' ', 3_000_000);
        var objects = new[]
        {
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            $"<< /Length {44 + padding.Length} >>\nstream\nBT /F1 24 Tf 40 100 Td (Delta report) Tj ET\n{padding}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        };
        var pdf = new StringBuilder("%PDF-1.4\n");
        var offsets = new List<int>();
        for (var i = 0; i < objects.Length; i++)
        {
            offsets.Add(Encoding.ASCII.GetByteCount(pdf.ToString()));
            pdf.Append(System.Globalization.CultureInfo.InvariantCulture, $"{i + 1} 0 obj\n{objects[i]}\nendobj\n");
        }
        var xref = Encoding.ASCII.GetByteCount(pdf.ToString());
        pdf.Append(System.Globalization.CultureInfo.InvariantCulture, $"xref\n0 {objects.Length + 1}\n0000000000 65535 f \n");
        foreach (var offset in offsets)
        {
            pdf.Append(System.Globalization.CultureInfo.InvariantCulture, $"{offset:D10} 00000 n \n");
        }
        pdf.Append(System.Globalization.CultureInfo.InvariantCulture, $"trailer\n<< /Size {objects.Length + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n");
        return Encoding.ASCII.GetBytes(pdf.ToString());
    }

    /// <summary>A minimal Word document: an Office Open XML package, as the server's type sniffing expects.</summary>
    private static byte[] Docx()
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in new[]
            {
                ("[Content_Types].xml", "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"),
                ("word/document.xml", "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>"),
            })
            {
                using var entry = new StreamWriter(zip.CreateEntry(name).Open());
                entry.Write(content);
            }
        }
        return stream.ToArray();
    }

    private async Task<IPage> NewPageAsync(string who, int width = 1280, int height = 860)
    {
        var context = await app.NewContextAsync(width, height);
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(15_000);
        _pages[who] = page;
        page.Console += (_, message) =>
        {
            // A page answered with an error status (the 404 step) is logged as a failed load: that is the test's own doing.
            if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource", StringComparison.Ordinal) && !page.Url.Contains("/swagger", StringComparison.Ordinal))
            {
                lock (_complaints)
                {
                    _complaints.Add($"{who} console in step {_step} on {page.Url} ({message.Location}): {message.Text}");
                }
            }
        };
        page.Response += (_, response) =>
        {
            if (response.Status >= 400 && response.Request.ResourceType is "stylesheet" or "script" or "image" or "font" or "manifest" or "other")
            {
                lock (_complaints)
                {
                    _complaints.Add($"{who}: {response.Status} for {response.Url}");
                }
            }
        };
        return page;
    }

    private static async Task SignInAsync(IPage page, string email, string password)
    {
        await page.GotoAsync("/login");
        await page.GetByLabel("Organisation (tenant)").FillAsync(AppFixture.Tenant);
        await page.GetByLabel("E-mail").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/documents$"));
    }

    /// <summary>Reloads <paramref name="url"/> until <paramref name="condition"/> holds: background work (the outbox) takes a moment.</summary>
    private static async Task EventuallyAsync(IPage page, string url, Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await page.GotoAsync(url);
            if (await condition())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{url} did not reach the expected state within 30 s.");
            }
            await Task.Delay(500);
        }
    }

    /// <summary>A failed step leaves a screenshot of every open page under TestResults/e2e/ and the server's last output.</summary>
    private async Task Step(string name, Func<Task> body)
    {
        _step = name;
        try
        {
            await body();
        }
        catch (Exception ex)
        {
            var dir = Path.Combine(AppFixture.RepositoryRoot, "TestResults", "e2e");
            Directory.CreateDirectory(dir);
            foreach (var (who, page) in _pages)
            {
                try
                {
                    await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, $"{name}-{who}.png"), FullPage = true });
                }
                catch (PlaywrightException)
                {
                    // A closed page has nothing to show.
                }
            }
            var output = app.ServerOutput;
            throw new InvalidOperationException(
                $"Step {name} failed (screenshots in {dir}): {ex.Message}\n--- server output (tail) ---\n{output[Math.Max(0, output.Length - 6000)..]}", ex);
        }
    }

    /// <summary>With DMS_REVIEW_SHOTS set to a folder, pictures of new pages written there for a person to look at.</summary>
    private static async Task ReviewShot(IPage page, string name, bool fullPage = false)
    {
        var dir = Environment.GetEnvironmentVariable("DMS_REVIEW_SHOTS");
        if (string.IsNullOrEmpty(dir))
        {
            return;
        }
        Directory.CreateDirectory(dir);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, $"{name}.png"), FullPage = fullPage });
    }

    /// <summary>With DMS_WRITE_SCREENSHOTS=1, pictures of the main pages for the README (docs/screenshots/).</summary>
    private static async Task Shot(IPage page, string name, bool fullPage = false)
    {
        if (!WriteDocScreenshots)
        {
            return;
        }
        var dir = Path.Combine(AppFixture.RepositoryRoot, "docs", "screenshots");
        Directory.CreateDirectory(dir);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, $"{name}.png"), FullPage = fullPage });
    }
}
