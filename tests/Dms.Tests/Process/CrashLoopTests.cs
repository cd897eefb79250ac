using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Process;

/// <summary>
/// 20 power cuts: each round starts the app on the same data folder, runs a mixed burst (uploads, delete and
/// replace requests, approvals), SIGKILLs the app and then its PostgreSQL at a random moment and restarts at once.
/// Every start must succeed; afterwards every approved request has executed exactly once, every acknowledged
/// upload downloads intact, and blobs and version rows match one to one.
/// </summary>
public sealed class CrashLoopTests : IDisposable
{
    private const int Rounds = 20;
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-crashloop-{Guid.NewGuid():N}");

    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Dms__Bootstrap__AdminPassword"] = "loop-admin-password",
        ["Dms__Outbox__LeaseDuration"] = "00:00:02",
        ["Dms__Outbox__PollInterval"] = "00:00:00.100",
        ["Dms__Security__UploadRateLimit__PermitLimit"] = "100000",
    };

    private sealed record Upload(Guid Document, string Sha256);

    private sealed record Request(Guid Approval, Guid Document, bool Replace);

    [Fact]
    public async Task Twenty_crashes_of_the_app_and_its_postgresql_lose_and_repeat_nothing()
    {
        var uploads = new List<Upload>();
        var approved = new List<Request>();
        var random = new Random(4711);
        for (var round = 0; round < Rounds; round++)
        {
            using var app = DmsProcess.Start(_dataDirectory, Settings);
            await app.WaitUntilReadyAsync();
            if (round == 0)
            {
                var admin0 = await SignInAsync(app, "admin@demo.local", "loop-admin-password");
                using var created = await admin0.PostAsJsonAsync("/api/v1/users", new { email = "member@demo.local", password = "loop-member-password", role = "Member" });
                await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
            }
            using var stop = new CancellationTokenSource();
            var signedIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var burst = Task.Run(() => BurstAsync(app, round, uploads, approved, signedIn, stop.Token));
            // The power cut falls at a random moment of the mixed work, not of the two sign-ins before it (password hashing on
            // a busy CI machine once took the whole window of every round, and nothing was approved).
            await Task.WhenAny(signedIn.Task, burst, Task.Delay(TimeSpan.FromSeconds(60)));
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(500, 2500)));
            await app.KillAsync();
            DatabaseCrashTests.KillPostmaster(_dataDirectory);
            await stop.CancelAsync();
            await burst;
        }

        var final = new Dictionary<string, string>(Settings)
        {
            // Let reconciliation remove the blobs of uploads cut off before their row was committed.
            ["Dms__Storage__OrphanGracePeriod"] = "00:00:01",
            ["Dms__Storage__ReconcileInterval"] = "00:00:01",
            // ...and the temporary files of writes the kills cut off (a thumbnail's *.partial was once left behind).
            ["Dms__Storage__AbandonedWriteAge"] = "00:00:01",
        };
        using var last = DmsProcess.Start(_dataDirectory, final);
        await last.WaitUntilReadyAsync();
        var admin = await SignInAsync(last, "admin@demo.local", "loop-admin-password");
        var member = await SignInAsync(last, "member@demo.local", "loop-member-password");
        approved.Count.ShouldBeGreaterThan(0, "the bursts must have approved something");

        var deadline = DateTime.UtcNow.AddSeconds(60);
        var executed = await ExecutedAsync(admin);
        while (!approved.All(a => executed.Contains(a.Approval)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            executed = await ExecutedAsync(admin);
        }
        (await CountAsync(admin, "Failed")).ShouldBe(0);
        foreach (var request in approved)
        {
            executed.ShouldContain(request.Approval, $"approval {request.Approval} must have executed");
            if (request.Replace)
            {
                var versions = await (await member.GetAsync($"/api/v1/documents/{request.Document}/versions")).JsonAsync();
                versions.GetProperty("items").GetArrayLength().ShouldBe(2, $"replace {request.Approval} adds exactly one version");
            }
        }
        var trash = await (await admin.GetAsync("/api/v1/trash?limit=200")).JsonAsync();
        var trashed = trash.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).ToList();
        foreach (var request in approved.Where(r => !r.Replace))
        {
            trashed.Count(id => id == request.Document).ShouldBe(1, $"delete {request.Approval} trashes once");
        }
        // Documents left alone by the burst (a request whose answer the kill cut off may still have deleted or
        // replaced one of the others).
        uploads.Count.ShouldBeGreaterThan(0);
        foreach (var upload in uploads)
        {
            using var download = await member.GetAsync($"/api/v1/documents/{upload.Document}/content");
            await download.ShouldHaveStatusAsync(HttpStatusCode.OK);
            Convert.ToHexStringLower(SHA256.HashData(await download.Content.ReadAsByteArrayAsync())).ShouldBe(upload.Sha256);
        }

        await Task.Delay(3000);
        var blobRoot = Path.Combine(_dataDirectory, "blobs");
        var keys = await BlobKeysAsync();
        var files = Directory.EnumerateFiles(blobRoot, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(blobRoot, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith(".multipart", StringComparison.Ordinal) && !Path.GetFileName(f).StartsWith('.'))
            // Signed audit checkpoints live beside the documents' blobs under the tenant prefix (ADR 0012).
            .Where(f => !f.Contains("/audit-checkpoints/", StringComparison.Ordinal))
            .ToHashSet();
        keys.Where(k => !files.Contains(k)).ShouldBeEmpty("every version row has its blob");
        // A streamed upload cut off by the kill leaves its blob (or its .partial file) under a Pending session,
        // which owns it until reconciliation expires the session: not an orphan.
        var pending = await PendingSessionKeysAsync();
        // Previews and thumbnails (issue 12) are blobs of a version too; their key is recorded before the blob is written,
        // so a crash may leave a key without its blob (rendered again on retry), never a blob without its key.
        var renditions = await BlobKeysAsync("SELECT blob_key FROM version_renditions WHERE blob_key IS NOT NULL");
        var orphans = files.Where(f => !keys.Contains(f) && !renditions.Contains(f) && !pending.Contains(f)
            && !(f.EndsWith(".partial", StringComparison.Ordinal) && pending.Contains(f[..f.LastIndexOf('.', f.Length - ".partial".Length - 1)]))).ToList();
        orphans.ShouldBeEmpty($"every blob has its version row (reconciliation removes orphans): {string.Join(", ", orphans)}\n{await SessionsAsync()}");
        (await last.StopAsync()).ShouldBe(0);
    }

    private static async Task BurstAsync(DmsProcess app, int round, List<Upload> uploads, List<Request> approved, TaskCompletionSource signedIn,
        CancellationToken stop)
    {
        try
        {
            var admin = await SignInAsync(app, "admin@demo.local", "loop-admin-password");
            var member = await SignInAsync(app, "member@demo.local", "loop-member-password");
            signedIn.TrySetResult();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var content = Uploads.Text($"round {round} document {i} {Guid.NewGuid()}");
                using var upload = await member.PostAsync("/api/v1/documents", Uploads.Form($"r{round}-{i}.txt", content), stop);
                if (upload.StatusCode != HttpStatusCode.Created)
                {
                    continue;
                }
                var document = (await upload.JsonAsync()).GetProperty("id").GetGuid();
                if (i % 3 == 2)
                {
                    lock (uploads)
                    {
                        uploads.Add(new Upload(document, Convert.ToHexStringLower(SHA256.HashData(content))));
                    }
                    continue;
                }
                var replace = i % 3 == 1;
                using var request = replace
                    ? await member.PostAsync($"/api/v1/documents/{document}/replace-requests", new MultipartFormDataContent
                    {
                        { new ByteArrayContent(Uploads.Text($"replacement {round} {i}")), "file", $"r{round}-{i}.txt" },
                        { new StringContent("replace"), "reason" },
                    }, stop)
                    : await member.PostAsJsonAsync($"/api/v1/documents/{document}/delete-requests", new { reason = "delete" }, stop);
                if (request.StatusCode != HttpStatusCode.Created)
                {
                    continue;
                }
                var approval = (await request.JsonAsync()).GetProperty("id").GetGuid();
                using var approve = await admin.PostAsJsonAsync($"/api/v1/approvals/{approval}/approve", new { comment = "ok" }, stop);
                if (approve.StatusCode == HttpStatusCode.OK)
                {
                    lock (approved)
                    {
                        approved.Add(new Request(approval, document, replace));
                    }
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException or ShouldAssertException)
        {
            // The kill cuts the burst off mid-request: only acknowledged work is checked.
        }
    }

    private Task<HashSet<string>> BlobKeysAsync() =>
        BlobKeysAsync("SELECT blob_key FROM document_versions UNION SELECT staged_blob_key FROM approval_requests WHERE staged_blob_key IS NOT NULL");

    private async Task<HashSet<string>> BlobKeysAsync(string sql)
    {
        var pgdata = Path.Combine(_dataDirectory, "postgres", "pgdata");
        var port = int.Parse(File.ReadAllLines(Path.Combine(pgdata, "postmaster.pid"))[3], CultureInfo.InvariantCulture);
        using var credentials = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "postgres", "credentials.json")));
        var password = credentials.RootElement.GetProperty("SuperUserPassword").GetString();
        // The superuser sees every tenant's rows; the app's own roles are bound by row-level security.
        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Password={password};Database=dms;Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var keys = new HashSet<string>();
        while (await reader.ReadAsync())
        {
            keys.Add(reader.GetString(0));
        }
        return keys;
    }

    private async Task<HashSet<string>> PendingSessionKeysAsync()
    {
        var pgdata = Path.Combine(_dataDirectory, "postgres", "pgdata");
        var port = int.Parse(File.ReadAllLines(Path.Combine(pgdata, "postmaster.pid"))[3], CultureInfo.InvariantCulture);
        using var credentials = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "postgres", "credentials.json")));
        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Password={credentials.RootElement.GetProperty("SuperUserPassword").GetString()};Database=dms;Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT final_key FROM upload_sessions WHERE status = 'Pending' UNION SELECT staging_key FROM upload_sessions WHERE status = 'Pending'", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        var keys = new HashSet<string>();
        while (await reader.ReadAsync())
        {
            keys.Add(reader.GetString(0));
        }
        return keys;
    }

    private async Task<string> SessionsAsync()
    {
        var pgdata = Path.Combine(_dataDirectory, "postgres", "pgdata");
        var port = int.Parse(File.ReadAllLines(Path.Combine(pgdata, "postmaster.pid"))[3], CultureInfo.InvariantCulture);
        using var credentials = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_dataDirectory, "postgres", "credentials.json")));
        await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Password={credentials.RootElement.GetProperty("SuperUserPassword").GetString()};Database=dms;Pooling=false");
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT string_agg(kind || ' ' || status || ' ' || final_key || ' ' || staging_key, '; ') FROM upload_sessions WHERE status <> 'Completed'", conn);
        return (await cmd.ExecuteScalarAsync())?.ToString() ?? "";
    }

    private static async Task<HttpClient> SignInAsync(DmsProcess server, string email, string password)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email, password });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString());
        return http;
    }

    private static async Task<HashSet<Guid>> ExecutedAsync(HttpClient admin)
    {
        var ids = new HashSet<Guid>();
        string? cursor = null;
        do
        {
            var page = await (await admin.GetAsync($"/api/v1/approvals?status=Executed&limit=200{(cursor is null ? "" : $"&cursor={cursor}")}")).JsonAsync();
            foreach (var item in page.GetProperty("items").EnumerateArray())
            {
                ids.Add(item.GetProperty("id").GetGuid());
            }
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);
        return ids;
    }

    private static async Task<int> CountAsync(HttpClient admin, string status)
    {
        var page = await (await admin.GetAsync($"/api/v1/approvals?status={status}&limit=200")).JsonAsync();
        return page.GetProperty("items").GetArrayLength();
    }

    public void Dispose() => DatabaseCrashTests.Cleanup(_dataDirectory);
}
