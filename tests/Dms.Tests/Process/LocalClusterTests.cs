using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Platform;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static Dms.Tests.Process.LocalClusterScript;

namespace Dms.Tests.Process;

/// <summary>
/// <c>deploy/local/cluster.sh</c> (issue 14, item 7): PostgreSQL, moto_server, two API nodes and a worker behind nginx.
/// Through the load balancer: a tenant, an upload and a delete request approved by a second admin and executed by the
/// worker; one API node SIGKILLed under load from parallel clients (only POSTs in flight on it may fail: nginx passes
/// idempotent requests to the other node); the worker stopped with SIGTERM holding a batch of leases (it releases
/// them, attempts not consumed); the last API node stopped with SIGTERM while an upload trickles in (it finishes it);
/// <c>down</c> leaves none of the PIDs behind.
/// </summary>
public sealed class LocalClusterTests(ITestOutputHelper output) : IDisposable
{
    private const int Clients = 4;
    private static readonly TimeSpan LoadDuration = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan KillAfter = TimeSpan.FromSeconds(6);

    private readonly string _state = Path.Combine(Path.GetTempPath(), $"dms-local-cluster-test-{Guid.NewGuid():N}"[..48]);
    private readonly List<string> _secrets = [];

    [Fact]
    public async Task Two_api_nodes_and_a_worker_behind_nginx_survive_a_sigkill_and_stop_gracefully()
    {
        var started = Stopwatch.StartNew();
        var (upExit, upOutput) = await RunScriptAsync("up", TimeSpan.FromMinutes(3));
        upExit.ShouldBe(0, upOutput);
        var up = Lines(upOutput);
        output.WriteLine($"up took {started.Elapsed.TotalSeconds:F1} s");
        var lb = new Uri(up["LB"]);
        var apiPids = up["API_PIDS"].Split(',').Select(int.Parse).ToArray();
        var apiUrls = up["API_URLS"].Split(',').Select(u => new Uri(u)).ToArray();
        var workerPid = int.Parse(up["WORKER_PIDS"], CultureInfo.InvariantCulture);
        apiPids.Length.ShouldBe(2);
        lb.Host.ShouldBe("127.0.0.1");
        var env = ReadEnvFile(up["ENV_FILE"]);
        _secrets.AddRange([up["PLATFORM_KEY"], env["PG_SUPERUSER_PASSWORD"], env["Dms__Auth__SigningKey"], env["Dms__Audit__CheckpointKey"]]);

        // A second up says so and changes nothing.
        var (againExit, againOutput) = await RunScriptAsync("up", TimeSpan.FromMinutes(1));
        againExit.ShouldBe(0);
        againOutput.ShouldContain("already up");
        Lines(againOutput)["API_PIDS"].ShouldBe(up["API_PIDS"]);

        var allPids = new List<int>(apiPids) { workerPid, int.Parse(up["PG_PID"], CultureInfo.InvariantCulture), int.Parse(up["S3_PID"], CultureInfo.InvariantCulture), int.Parse(up["LB_PID"], CultureInfo.InvariantCulture) };
        allPids.AddRange(Children(int.Parse(up["LB_PID"], CultureInfo.InvariantCulture))); // nginx's worker
        allPids.AddRange(Children(int.Parse(up["PG_PID"], CultureInfo.InvariantCulture))); // PostgreSQL's background processes
        foreach (var pid in allPids)
        {
            Alive(pid).ShouldBeTrue($"pid {pid}");
        }

        // 1. The approval flow through the load balancer.
        var slug = $"lc{Guid.NewGuid():N}"[..12];
        using var platform = new HttpClient { BaseAddress = lb };
        platform.DefaultRequestHeaders.Add("X-Platform-Key", up["PLATFORM_KEY"]);
        using var tenantResponse = await platform.PostAsJsonAsync("/api/v1/platform/tenants",
            new { slug, name = "Local cluster", adminEmail = "admin@cluster.test", adminPassword = "cluster-admin-password" });
        await tenantResponse.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var tenantId = (await tenantResponse.JsonAsync()).GetProperty("id").GetGuid();
        using var admin = await SignInAsync(lb, slug, "admin@cluster.test", "cluster-admin-password");
        using (var created = await admin.PostAsJsonAsync("/api/v1/users", new { email = "second@cluster.test", password = "cluster-second-password", role = "Admin" }))
        {
            await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        using var second = await SignInAsync(lb, slug, "second@cluster.test", "cluster-second-password");
        var document = await UploadAsync(admin, "contract.txt", "the first file through the load balancer");
        var approval = await RequestDeleteAsync(admin, document);
        using (var approved = await second.PostAsJsonAsync($"/api/v1/approvals/{approval}/approve", new { comment = "ok" }))
        {
            await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        var flow = Stopwatch.StartNew();
        string? status = null;
        while (flow.Elapsed < TimeSpan.FromSeconds(30) && status != "Executed")
        {
            status = (await (await admin.GetAsync($"/api/v1/approvals/{approval}")).JsonAsync()).GetProperty("status").GetString();
            await Task.Delay(100);
        }
        status.ShouldBe("Executed");
        output.WriteLine($"delete request approved by a second admin, executed by the worker {flow.ElapsedMilliseconds} ms after the approval");
        using (var trash = await second.GetAsync("/api/v1/trash"))
        {
            (await trash.JsonAsync()).GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ShouldContain(document);
        }

        // 2. SIGKILL one API node under load.
        List<Guid> readable = [];
        for (var i = 0; i < 5; i++)
        {
            readable.Add(await UploadAsync(admin, $"read-{i}.txt", $"read me {i}"));
        }
        var token = admin.DefaultRequestHeaders.Authorization!;
        var load = Stopwatch.StartNew();
        var results = new List<Outcome>();
        var clients = Enumerable.Range(0, Clients).Select(c => Task.Run(() => ClientLoopAsync(lb, token, readable, c, load, results))).ToList();
        await Task.Delay(KillAfter);
        var killedAt = load.Elapsed;
        System.Diagnostics.Process.GetProcessById(apiPids[0]).Kill();
        await Task.WhenAll(clients);
        Alive(apiPids[0]).ShouldBeFalse("the killed node is gone");

        var failures = results.Where(r => !r.Ok).ToList();
        var posts = results.Count(r => r.Method == "POST");
        output.WriteLine($"load: {results.Count} requests in {LoadDuration.TotalSeconds:F0} s from {Clients} clients ({results.Count - posts} GET, {posts} POST uploads), " +
            $"api1 (pid {apiPids[0]}) SIGKILLed at {killedAt.TotalSeconds:F1} s; failed: {failures.Count}");
        foreach (var failure in failures)
        {
            output.WriteLine($"  failed: {failure.Method} {failure.Path} sent at {failure.At.TotalSeconds:F2} s, answered at {failure.End.TotalSeconds:F2} s: {failure.Error}");
        }
        var retried = File.ReadLines(Path.Combine(_state, "logs", "nginx-access.log")).Count(l => l.Contains("upstream=127.0.0.1:", StringComparison.Ordinal) && l.Contains(", 127.0.0.1:", StringComparison.Ordinal));
        output.WriteLine($"nginx passed {retried} request(s) on to the other node (access log lines naming two upstreams)");
        results.Count.ShouldBeGreaterThan(100, "the load ran");
        results.Count(r => r.Ok && r.At > killedAt + TimeSpan.FromSeconds(1)).ShouldBeGreaterThan(20, "the surviving node served the rest of the load");
        // At most one request per client can be in flight on the killed node; GETs are retried on the other node by nginx.
        failures.Count.ShouldBeLessThanOrEqualTo(Clients);
        failures.ShouldAllBe(f => f.Method == "POST", "an idempotent request is passed on to the other node");
        // In flight at the kill: sent before it (or just after, on a kept-alive connection nginx had not yet seen close), answered after it.
        failures.ShouldAllBe(f => f.At <= killedAt + TimeSpan.FromSeconds(1) && f.End >= killedAt, "only requests in flight at the kill");
        // Every acknowledged upload is there.
        var acknowledged = results.Where(r => r is { Ok: true, Created: not null }).Select(r => r.Created!.Value).ToList();
        foreach (var id in acknowledged)
        {
            using var check = await admin.GetAsync($"/api/v1/documents/{id}");
            check.StatusCode.ShouldBe(HttpStatusCode.OK, $"acknowledged upload {id}");
        }
        output.WriteLine($"all {acknowledged.Count} acknowledged uploads are readable through the load balancer");

        // 3. The worker, stopped with SIGTERM while it holds a claimed batch, finishes the message in hand and releases the rest.
        await SignalAsync("STOP", workerPid);
        List<Guid> approvals = [];
        for (var i = 0; i < 30; i++)
        {
            approvals.Add(await RequestDeleteAsync(admin, await UploadAsync(admin, $"batch-{i}.txt", $"batch {i}")));
        }
        foreach (var id in approvals)
        {
            using var ok = await second.PostAsJsonAsync($"/api/v1/approvals/{id}/approve", new { comment = "batch" });
            await ok.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        await using var db = NpgsqlDataSource.Create(
            $"Host=127.0.0.1;Port={env["PG_PORT"]};Database=dms;Username={env["PG_SUPERUSER"]};Password={env["PG_SUPERUSER_PASSWORD"]};Pooling=false");
        await SignalAsync("CONT", workerPid);
        // The executions' lane claims up to 20 at once and runs them one after another: SIGTERM once it holds some.
        var heldSql = $"SELECT count(*) FROM outbox_messages WHERE locked_by LIKE '%:{workerPid}:%' AND status = 'Processing' AND type = 'approval.execute'";
        var leased = Stopwatch.StartNew();
        while (await CountAsync(db, heldSql) < 2 && leased.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
        }
        var held = await CountAsync(db, heldSql);
        var stopping = Stopwatch.StartNew();
        await SignalAsync("TERM", workerPid);
        await WaitForExitAsync(workerPid, TimeSpan.FromSeconds(40));
        output.WriteLine($"worker (pid {workerPid}) held {held} approval.execute lease(s) when SIGTERM came; exited after {stopping.ElapsedMilliseconds} ms");
        held.ShouldBeGreaterThan(0, "the worker was holding a batch");
        (await CountAsync(db, "SELECT count(*) FROM outbox_messages WHERE status = 'Processing' OR locked_by IS NOT NULL")).ShouldBe(0, "no lease outlives the worker");
        var pendingExecutions = await CountAsync(db, $"SELECT count(*) FROM outbox_messages WHERE tenant_id = '{tenantId}' AND status = 'Pending' AND type = 'approval.execute'");
        (await CountAsync(db, $"SELECT count(*) FROM outbox_messages WHERE tenant_id = '{tenantId}' AND status = 'Pending' AND type = 'approval.execute' AND attempts <> 0")).ShouldBe(0, "released messages keep their attempts");
        var executed = await CountAsync(db, $"SELECT count(*) FROM approval_requests WHERE tenant_id = '{tenantId}' AND status = 'Executed'") - 1;
        (executed + pendingExecutions).ShouldBe(approvals.Count, "each approved request is executed or waits, unleased, for the next worker");
        var workerLog = await File.ReadAllLinesAsync(Path.Combine(_state, "logs", "worker1.log"));
        var released = workerLog.Where(l => l.Contains("at shutdown", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("Message").GetString()).ToList();
        output.WriteLine($"after the worker stopped: {executed} of {approvals.Count} batch requests executed, {pendingExecutions} pending at 0 attempts, none Processing or leased; " +
            $"log: {(released.Count == 0 ? "(no release line)" : string.Join("; ", released))}");

        // 4. SIGTERM to the last API node while an upload trickles in: the upload completes, new connections are refused.
        var survivor = apiUrls[1];
        using var direct = new HttpClient { BaseAddress = survivor, Timeout = TimeSpan.FromSeconds(60) };
        direct.DefaultRequestHeaders.Authorization = token;
        // Chunks larger than HttpClient's write buffer go out at once: bytes still in the client's buffer are not a request
        // in flight (a node stopping closes a connection on which no request has arrived yet).
        var body = new SlowStream(chunks: 12, chunkSize: 32 * 1024, delay: TimeSpan.FromMilliseconds(250));
        var form = new MultipartFormDataContent { { new StreamContent(body, 64 * 1024), "file", "slow.txt" } };
        var drain = Stopwatch.StartNew();
        var uploading = direct.PostAsync("/api/v1/documents", form);
        await body.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300);
        await SignalAsync("TERM", apiPids[1]);
        var termAt = drain.Elapsed;
        var refused = false;
        for (var i = 0; i < 40 && !refused; i++)
        {
            try
            {
                using var probe = new HttpClient { BaseAddress = survivor, Timeout = TimeSpan.FromSeconds(2) };
                using var _ = await probe.GetAsync("/health/live");
                await Task.Delay(50);
            }
            catch (HttpRequestException)
            {
                refused = true;
            }
        }
        using var slow = await uploading;
        var uploadDone = drain.Elapsed;
        await slow.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var slowId = (await slow.JsonAsync()).GetProperty("id").GetGuid();
        await WaitForExitAsync(apiPids[1], TimeSpan.FromSeconds(40));
        output.WriteLine($"api2 (pid {apiPids[1]}): SIGTERM {termAt.TotalSeconds:F2} s into a trickling upload; new connections refused: {refused}; " +
            $"upload answered 201 at {uploadDone.TotalSeconds:F2} s; process gone at {drain.Elapsed.TotalSeconds:F2} s");
        refused.ShouldBeTrue("a stopping node takes no new connections (nginx sends them to the other node)");
        uploadDone.ShouldBeGreaterThan(termAt + TimeSpan.FromSeconds(1), "the upload was still arriving when SIGTERM came");
        (await CountAsync(db, $"SELECT count(*) FROM documents WHERE id = '{slowId}'")).ShouldBe(1);
        (await File.ReadAllTextAsync(Path.Combine(_state, "logs", "api2.log"))).ShouldContain("Application is shutting down");

        // 5. down stops everything it started: every PID is gone; status says nothing runs.
        NpgsqlConnection.ClearAllPools();
        var (downExit, downOutput) = await RunScriptAsync("down", TimeSpan.FromMinutes(2));
        downExit.ShouldBe(0, downOutput);
        // PostgreSQL's children and nginx's worker may take a moment to exit after their parent stopped.
        for (var i = 0; i < 100 && allPids.Any(Alive); i++)
        {
            await Task.Delay(100);
        }
        foreach (var pid in allPids)
        {
            Alive(pid).ShouldBeFalse($"pid {pid} after down:\n{downOutput}");
        }
        var (statusExit, statusOutput) = await RunScriptAsync("status", TimeSpan.FromMinutes(1));
        statusExit.ShouldBe(3, statusOutput);
        output.WriteLine($"down: {allPids.Count} processes (nodes, PostgreSQL and its children, moto, nginx and its worker) all gone; whole test {started.Elapsed.TotalSeconds:F0} s");

        // No secret of the cluster in any log it wrote.
        foreach (var log in Directory.GetFiles(Path.Combine(_state, "logs")))
        {
            var text = await File.ReadAllTextAsync(log);
            foreach (var secret in _secrets.Concat(["cluster-admin-password", "cluster-second-password", token.Parameter!]))
            {
                text.Contains(secret, StringComparison.Ordinal).ShouldBeFalse($"{Path.GetFileName(log)} holds a secret");
            }
        }
    }

    public void Dispose()
    {
        // Whatever happened above, nothing is left running.
        RunScriptAsync("down", TimeSpan.FromMinutes(2)).GetAwaiter().GetResult();
        DeleteState(_state);
    }

    private sealed record Outcome(string Method, string Path, TimeSpan At, TimeSpan End, bool Ok, string? Error, Guid? Created);

    private static async Task ClientLoopAsync(Uri lb, AuthenticationHeaderValue token, List<Guid> readable, int client, Stopwatch load, List<Outcome> results)
    {
        using var http = new HttpClient { BaseAddress = lb, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = token;
        for (var i = 0; load.Elapsed < LoadDuration; i++)
        {
            var (method, path) = (i % 3) switch
            {
                0 => ("GET", $"/api/v1/documents/{readable[(i + client) % readable.Count]}"),
                1 => ("GET", "/api/v1/documents?limit=5"),
                _ => ("POST", "/api/v1/documents"),
            };
            var at = load.Elapsed;
            Outcome outcome;
            try
            {
                using var response = method == "GET"
                    ? await http.GetAsync(path)
                    : await http.PostAsync(path, Uploads.Form($"load-{client}-{i}.txt", Uploads.Text($"load {client} {i}")));
                Guid? created = null;
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    created = (await response.JsonAsync()).GetProperty("id").GetGuid();
                }
                outcome = new Outcome(method, path, at, load.Elapsed, response.IsSuccessStatusCode, response.IsSuccessStatusCode ? null : $"{(int)response.StatusCode}", created);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                outcome = new Outcome(method, path, at, load.Elapsed, false, ex.GetType().Name + ": " + ex.Message, null);
            }
            lock (results)
            {
                results.Add(outcome);
            }
        }
    }

    /// <summary>A request body that arrives slowly, so a node is stopped with the request in flight.</summary>
    private sealed class SlowStream(int chunks, int chunkSize, TimeSpan delay) : ReadOnlyStream
    {
        private int _sent;

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);


        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_sent == chunks)
            {
                return 0;
            }
            if (_sent > 0)
            {
                await Task.Delay(delay, cancellationToken);
            }
            Started.TrySetResult();
            var count = Math.Min(chunkSize, buffer.Length);
            buffer.Span[..count].Fill((byte)'a');
            _sent++;
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();
    }

    private Task<(int ExitCode, string Output)> RunScriptAsync(string verb, TimeSpan timeout) =>
        LocalClusterScript.RunAsync(_state, [verb], new Dictionary<string, string>
        {
            ["Dms__Outbox__PollInterval"] = "00:00:00.100",
            // The load uploads far faster than a person does.
            ["Dms__Security__UploadRateLimit__PermitLimit"] = "100000",
        }, timeout);

    private static async Task<HttpClient> SignInAsync(Uri lb, string tenant, string email, string password)
    {
        var http = new HttpClient { BaseAddress = lb };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant, email, password });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await login.JsonAsync()).GetProperty("accessToken").GetString());
        return http;
    }

    private static async Task<Guid> UploadAsync(HttpClient http, string name, string content)
    {
        using var upload = await http.PostAsync("/api/v1/documents", Uploads.Form(name, Uploads.Text(content)));
        await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await upload.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<Guid> RequestDeleteAsync(HttpClient http, Guid document)
    {
        using var request = await http.PostAsJsonAsync($"/api/v1/documents/{document}/delete-requests", new { reason = "cluster test" });
        await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await request.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static async Task<long> CountAsync(NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
