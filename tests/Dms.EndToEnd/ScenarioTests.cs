using System.Text;
using System.Text.RegularExpressions;
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
    private static readonly bool WriteDocScreenshots = Environment.GetEnvironmentVariable("DMS_WRITE_SCREENSHOTS") == "1";

    private readonly Dictionary<string, IPage> _pages = [];

    [Fact]
    public async Task Admin_and_member_go_through_the_whole_document_life_in_the_browser()
    {
        var admin = await NewPageAsync("admin");
        var member = await NewPageAsync("member");
        var alpha = Encoding.UTF8.GetBytes("Alpha meeting notes\nline two\n" + new string('a', 200_000));
        var beta = Encoding.UTF8.GetBytes("Budget beta figures\n1,2,3\n");
        string documentUrl = "";

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
            await Shot(admin, "admin-users");
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

            await member.GetByTestId("search").FillAsync("alpha");
            await Expect(member).ToHaveURLAsync(new Regex("q=alpha"));
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("alpha-notes");
            await Expect(member.GetByTestId("documents")).Not.ToContainTextAsync("beta-budget");
            await member.GetByRole(AriaRole.Link, new() { Name = "alpha-notes" }).ClickAsync();
            await Expect(member.GetByTestId("doc-title")).ToContainTextAsync("alpha-notes");
            documentUrl = member.Url;

            var download = await member.RunAndWaitForDownloadAsync(() => member.GetByTestId("download").ClickAsync());
            download.SuggestedFilename.ShouldBe("alpha-notes.txt");
            var saved = Path.Combine(app.DataDirectory, "downloaded.txt");
            await download.SaveAsAsync(saved);
            (await File.ReadAllBytesAsync(saved)).ShouldBe(alpha);
        });

        await Step("3-member-requests-delete", async () =>
        {
            await member.GetByTestId("delete-reason").FillAsync("Superseded by the new minutes");
            await member.GetByRole(AriaRole.Button, new() { Name = "Request delete" }).ClickAsync();
            await Expect(member.GetByTestId("pending")).ToContainTextAsync("Delete request pending");
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
            await request.GetByTestId("approve").ClickAsync();
            await Expect(admin.GetByTestId("flash")).ToContainTextAsync("Approved");
        });

        await Step("5-member-sees-notification-and-document-gone", async () =>
        {
            // "Approved" arrives before "executed": wait for the notification that says the document went.
            await EventuallyAsync(member, "/notifications", async () =>
                await member.GetByTestId("notification").Filter(new() { HasText = "The document was deleted" }).CountAsync() > 0);
            await Expect(member.GetByTestId("bell-count")).ToBeVisibleAsync();
            await Expect(member.GetByTestId("notification").First).ToContainTextAsync("The document was deleted");
            await EventuallyAsync(member, "/documents", async () => !(await member.GetByTestId("documents").InnerTextAsync()).Contains("alpha-notes", StringComparison.Ordinal));
            await Expect(member.GetByTestId("documents")).ToContainTextAsync("beta-budget");
        });

        await Step("6-admin-restores-from-trash", async () =>
        {
            await EventuallyAsync(admin, "/admin/trash", async () => await admin.GetByTestId("trash").CountAsync() > 0);
            await admin.GetByRole(AriaRole.Row).Filter(new() { HasText = "alpha-notes" }).GetByTestId("restore").ClickAsync();
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
            await Expect(member.GetByTestId("pending")).ToContainTextAsync("Replace request pending");

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
            await admin.GetByRole(AriaRole.Link, new() { Name = "Verify the chain" }).ClickAsync();
            await Expect(admin.GetByTestId("verify")).ToContainTextAsync("The chain is intact");
            await admin.GotoAsync("/admin/workspaces");
            await Expect(admin.GetByRole(AriaRole.Heading, new() { Name = "Members of General" })).ToBeVisibleAsync();
            await admin.GotoAsync("/admin/outbox");
            await Expect(admin.GetByText("No dead messages.")).ToBeVisibleAsync();

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

        if (WriteDocScreenshots)
        {
            await admin.GotoAsync("/admin/audit");
            await Shot(admin, "audit");
            await admin.GotoAsync(documentUrl);
            await Shot(admin, "document-admin");
            var phone = await NewPageAsync("phone", 390, 844);
            await SignInAsync(phone, MemberEmail, MemberPassword);
            await Shot(phone, "documents-phone");
        }
    }

    private async Task<IPage> NewPageAsync(string who, int width = 1280, int height = 860)
    {
        var context = await app.NewContextAsync(width, height);
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(15_000);
        _pages[who] = page;
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

    /// <summary>With DMS_WRITE_SCREENSHOTS=1, pictures of the main pages for the README (docs/screenshots/).</summary>
    private static async Task Shot(IPage page, string name)
    {
        if (!WriteDocScreenshots)
        {
            return;
        }
        var dir = Path.Combine(AppFixture.RepositoryRoot, "docs", "screenshots");
        Directory.CreateDirectory(dir);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, $"{name}.png"), FullPage = false });
    }
}
