using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Process;

/// <summary>
/// The server as a newcomer runs it: no connection string, so it starts its own PostgreSQL in its data
/// folder. Data survives a clean restart, a SIGKILL of the server and a SIGKILL of PostgreSQL itself.
/// </summary>
public sealed partial class EmbeddedServerProcessTests : IDisposable
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-proc-{Guid.NewGuid():N}");

    [Fact]
    public async Task Data_survives_restart_sigkill_and_a_stale_postmaster_pid()
    {
        // First start: empty folder, generated admin password printed once.
        string password;
        Guid documentId;
        var content = Uploads.Pdf(300_000);
        using (var first = DmsProcess.Start(_dataDirectory))
        {
            await first.WaitUntilReadyAsync();
            password = AdminPassword().Match(first.Output) is { Success: true } m ? m.Groups[1].Value : throw new ShouldAssertException($"No generated password printed:\n{first.Output}");
            first.Output.ShouldNotContain("\"" + password, customMessage: "the generated password must not reach the JSON logs");
            // A printed password is replaced at first sign-in: until then only the change itself is allowed.
            var printed = await SignInAsync(first, password);
            using (var refused = await printed.PostAsync("/api/v1/documents", Uploads.Form("too-early.pdf", content, "Too early")))
            {
                await refused.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.password_change_required");
            }
            using (var change = await printed.PostAsJsonAsync("/api/v1/me/password", new { currentPassword = password, newPassword = "the admin's own secret 1" }))
            {
                await change.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            password = "the admin's own secret 1";
            var client = await SignInAsync(first, password);
            using var upload = await client.PostAsync("/api/v1/documents", Uploads.Form("survivor.pdf", content, "Survivor"));
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
            documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();

            (await first.StopAsync()).ShouldBe(0);
            File.Exists(PostmasterPid).ShouldBeFalse("a clean stop also stops the embedded PostgreSQL");
        }

        // Clean restart: same data, no second bootstrap.
        using (var second = DmsProcess.Start(_dataDirectory))
        {
            await second.WaitUntilReadyAsync();
            second.Output.ShouldNotContain("first start");
            await ShouldHaveDocumentAsync(second, password, documentId, content);
            await second.KillAsync();
        }

        // After SIGKILL the orphaned PostgreSQL is still running; the next start adopts it.
        File.Exists(PostmasterPid).ShouldBeTrue();
        using (var third = DmsProcess.Start(_dataDirectory))
        {
            await third.WaitUntilReadyAsync();
            await ShouldHaveDocumentAsync(third, password, documentId, content);
            await third.KillAsync();
        }

        // Kill PostgreSQL too: a postmaster.pid naming a dead process must not block the next start.
        var postmaster = int.Parse(File.ReadLines(PostmasterPid).First(), System.Globalization.CultureInfo.InvariantCulture);
        using (var kill = System.Diagnostics.Process.Start("kill", ["-KILL", postmaster.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        await WaitUntilAsync(() => !Directory.Exists($"/proc/{postmaster}"));
        File.Exists(PostmasterPid).ShouldBeTrue("the stale pid file is what this step is about");
        using (var fourth = DmsProcess.Start(_dataDirectory))
        {
            await fourth.WaitUntilReadyAsync();
            await ShouldHaveDocumentAsync(fourth, password, documentId, content);
            var client = await SignInAsync(fourth, password);
            using var upload = await client.PostAsync("/api/v1/documents", Uploads.Form("after-crash.txt", Uploads.Text("still writable")));
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
            (await fourth.StopAsync()).ShouldBe(0);
        }
        File.Exists(PostmasterPid).ShouldBeFalse();
    }

    [Fact]
    public async Task The_tenant_create_verb_works_beside_a_running_server()
    {
        var env = new Dictionary<string, string> { ["Dms__Bootstrap__AdminPassword"] = "bootstrap-password-1" };
        using var server = DmsProcess.Start(_dataDirectory, env);
        await server.WaitUntilReadyAsync();

        var (exit, output) = await DmsProcess.RunCliAsync(_dataDirectory, env,
            "tenant", "create", "--slug", "acme", "--name", "Acme Corp", "--admin-email", "boss@acme.test", "--admin-password", "acme-password-1");
        exit.ShouldBe(0, output);
        output.ShouldContain("tenant created");

        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "acme", email = "boss@acme.test", password = "acme-password-1" });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);

        var (again, againOutput) = await DmsProcess.RunCliAsync(_dataDirectory, env,
            "tenant", "create", "--slug", "acme", "--name", "Acme again", "--admin-email", "x@acme.test", "--admin-password", "acme-password-2");
        again.ShouldBe(1);
        againOutput.ShouldContain("already exists");

        var (usage, usageOutput) = await DmsProcess.RunCliAsync(_dataDirectory, env, "tenant", "create", "--slug");
        usage.ShouldBe(2);
        usageOutput.ShouldContain("usage:");

        // A locked-out sole admin: the operator resets the password from the command line while the server runs.
        for (var i = 0; i < 4; i++)
        {
            using var guess = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "acme", email = "boss@acme.test", password = $"wrong-guess-{i}" });
        }
        using (var locked = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "acme", email = "boss@acme.test", password = "wrong-guess-last" }))
        {
            await locked.ShouldBeProblemAsync(HttpStatusCode.Locked, "auth.locked");
        }
        var (reset, resetOutput) = await DmsProcess.RunCliAsync(_dataDirectory, env, "user", "reset-password", "--tenant", "acme", "--email", "boss@acme.test");
        reset.ShouldBe(0, resetOutput);
        var temporary = System.Text.RegularExpressions.Regex.Match(resetOutput, @"Temporary password for \S+ in 'acme': (\S+)").Groups[1].Value;
        temporary.Length.ShouldBe(20, resetOutput);
        using (var old = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "acme", email = "boss@acme.test", password = "acme-password-1" }))
        {
            // Unlocked (401, not 423), and the old password is gone.
            await old.ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "auth.invalid_credentials");
        }
        using (var withTemporary = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "acme", email = "boss@acme.test", password = temporary }))
        {
            await withTemporary.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var token = (await withTemporary.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/documents");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var blocked = await http.SendAsync(request);
            await blocked.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "auth.password_change_required");
        }
        var (unknownUser, unknownOutput) = await DmsProcess.RunCliAsync(_dataDirectory, env, "user", "reset-password", "--tenant", "acme", "--email", "nobody@acme.test");
        unknownUser.ShouldBe(1);
        unknownOutput.ShouldContain("no user");

        // Kestrel's request limits (only a real server applies them): an oversized JSON body or header block is
        // a 4xx, and the server carries on.
        using var huge = await http.PostAsync("/api/v1/auth/login", new StringContent(
            $"{{\"tenant\":\"acme\",\"email\":\"{new string('x', 2 * 1024 * 1024)}\",\"password\":\"p\"}}", System.Text.Encoding.UTF8, "application/json"));
        await huge.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge, "request.too_large");
        using (var headers = new HttpRequestMessage(HttpMethod.Get, "/api/v1/me"))
        {
            headers.Headers.TryAddWithoutValidation("X-Padding", new string('h', 64 * 1024));
            using var tooManyHeaders = await http.SendAsync(headers);
            ((int)tooManyHeaders.StatusCode).ShouldBe(431);
        }

        // The guest CLI run must not have stopped the server's database.
        using var ready = await http.GetAsync("/health/ready");
        await ready.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await server.StopAsync()).ShouldBe(0);
    }

    [Fact]
    public async Task Missing_postgresql_binaries_fail_with_one_clear_line()
    {
        var (exit, output) = await DmsProcess.RunCliAsync(_dataDirectory,
            new Dictionary<string, string> { ["Dms__Database__BinDirectory"] = "/nonexistent/postgresql/bin" }, "--urls", "http://127.0.0.1:1");
        exit.ShouldBe(1);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('{')).ToList();
        lines.ShouldHaveSingleItem().ShouldStartWith("dms: Dms__Database__BinDirectory '/nonexistent/postgresql/bin' has no initdb/pg_ctl");
        output.ShouldNotContain("   at ");
    }

    public void Dispose() => ServerDataDirectory.Remove(_dataDirectory);

    private string PostmasterPid => Path.Combine(_dataDirectory, "postgres", "pgdata", "postmaster.pid");

    private static async Task<HttpClient> SignInAsync(DmsProcess server, string password)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email = "admin@demo.local", password });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task ShouldHaveDocumentAsync(DmsProcess server, string password, Guid documentId, byte[] content)
    {
        using var client = await SignInAsync(server, password);
        using var download = await client.GetAsync($"/api/v1/documents/{documentId}/content");
        await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(content);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 100 && !condition(); i++)
        {
            await Task.Delay(100);
        }
        condition().ShouldBeTrue();
    }

    [GeneratedRegex(@"Admin password:\s+(\S+)")]
    private static partial Regex AdminPassword();
}
