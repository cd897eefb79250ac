using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Deploy;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Process;

/// <summary>
/// A real Prometheus (the Debian package's binary) scrapes a running node every second with deploy/prometheus's
/// recording and alert rules loaded. After some traffic (sign-ins, a failed one, uploads, an upload session, a delete
/// request approved and executed, list and search), every query behind the Grafana dashboards is valid PromQL and the
/// core ones return data; every recording rule and alert rule evaluates without error.
/// </summary>
public sealed partial class PrometheusScrapeTests(ITestOutputHelper output) : IDisposable
{
    private const string AdminPassword = "prom-admin-password";
    private const string MemberPassword = "prom-member-password";
    private const string PrometheusBinary = "/usr/bin/prometheus";

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"dms-prom-{Guid.NewGuid():N}");

    /// <summary>Dashboard queries (by panel title or variable, and a fragment of the PromQL when one panel has several)
    /// that may answer an empty result after this test's traffic, and why. Every other query must return data.</summary>
    private static readonly (string Where, string Fragment, string Reason)[] MayBeEmpty =
    [
        ("panel '5xx ratio by route'", "", "no request fails with a 5xx in this traffic"),
        ("panel 'API answers 503 (database unavailable and other)'", "", "the database stays up: no 503"),
        ("panel 'Requests waiting for a connection'", "", "Npgsql reports pending requests only once one had to wait for the pool"),
        ("panel 'Dead messages by type'", "", "no message dies: dms_outbox_dead has a series only for types with dead messages"),
        ("panel 'Pending + processing by type'", "", "dms_outbox_backlog has a series only for types with messages pending: the backlog drains within a second here"),
        ("panel 'Retried or dead share by type'", "", "every handler run succeeds: no outcome other than done"),
        ("panel 'Lockouts'", "", "one failed sign-in locks nobody out"),
        ("panel 'Storage errors/s'", "", "the file system store does not fail"),
        ("panel 'Errors/s by provider and operation'", "", "the file system store does not fail"),
        ("panel 'Failed share of calls (5m)'", "", "dms:storage_errors:ratio_rate5m is absent until a storage error is counted"),
        ("panel 'S3 requests/s by status'", "", "http_client_* comes from S3 calls; this node stores blobs on the file system"),
        ("panel 'S3 request p95'", "", "http_client_* comes from S3 calls; this node stores blobs on the file system"),
    ];

    /// <summary>Recording rules that may have no series after this traffic, and why.</summary>
    private static readonly Dictionary<string, string> RecordsMayBeEmpty = new(StringComparer.Ordinal)
    {
        ["dms:http_requests_5xx:rate5m"] = "no 5xx in this traffic",
        ["dms:http_errors:ratio_rate5m"] = "absent while no request failed with a 5xx",
        ["dms:outbox_dead:max"] = "no dead message",
        ["dms:outbox_backlog:max"] = "the backlog is empty when the test queries",
        ["dms:storage_errors:rate5m"] = "no storage error",
        ["dms:storage_errors:ratio_rate5m"] = "no storage error",
    };

    [Fact]
    public async Task The_dashboard_queries_and_rules_work_against_a_real_prometheus_scraping_a_running_node()
    {
        File.Exists(PrometheusBinary).ShouldBeTrue("the Debian prometheus package is installed (test.sh installs it)");
        Directory.CreateDirectory(_root);
        DmsProcess? app = null;
        System.Diagnostics.Process? prometheus = null;
        var prometheusOutput = new StringBuilder();
        try
        {
            app = DmsProcess.Start(Path.Combine(_root, "app"), new Dictionary<string, string>
            {
                ["Dms__Bootstrap__AdminPassword"] = AdminPassword,
                ["Dms__Metrics__SampleInterval"] = "00:00:01",
                ["Dms__Previews__Enabled"] = "false",
                ["Dms__Outbox__PollInterval"] = "00:00:00.200",
                // The audit gauges appear after the first checkpoint pass on the node.
                ["Dms__Audit__CheckpointInterval"] = "00:00:02",
                ["Dms__Security__UploadRateLimit__PermitLimit"] = "100000",
            }, "--role", "all");
            var prometheusPort = FreePort();
            prometheus = StartPrometheus(prometheusPort, app.Port, prometheusOutput);
            using var prom = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{prometheusPort}"), Timeout = TimeSpan.FromSeconds(10) };

            await app.WaitUntilReadyAsync();
            await WaitForAsync("Prometheus scrapes the node (up{job=\"dms\"} == 1)", async () =>
            {
                var up = await QueryAsync(prom, "up{job=\"dms\"}");
                return up.Status == "success" && up.Result.Count == 1 && up.Result[0].Value == "1";
            }, TimeSpan.FromSeconds(30), prometheus, prometheusOutput);

            // Traffic in two rounds more than a scrape apart, so that counters move between scrapes and rates are not 0.
            using var admin = await SignInAsync(app, "admin@demo.local", AdminPassword);
            using (var created = await admin.PostAsJsonAsync("/api/v1/users", new { email = "member@demo.local", password = MemberPassword, role = "Member" }))
            {
                await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
            }
            for (var round = 0; round < 2; round++)
            {
                await TrafficAsync(app, admin, round);
                await Task.Delay(2500);
            }
            await ApprovedDeleteAsync(app, admin);
            await Task.Delay(3000);

            // Every dashboard query: valid for all, data for all but the allow-listed ones.
            var invalid = new List<string>();
            var empty = new List<string>();
            var emptyAllowed = new List<string>();
            var queried = new HashSet<string>(StringComparer.Ordinal);
            var variables = DashboardVariables();
            foreach (var file in Directory.GetFiles(MonitoringFiles.Path(MonitoringFiles.DashboardsFolder), "*.json").Order(StringComparer.Ordinal))
            {
                var dashboard = Path.GetFileName(file);
                foreach (var (where, expr) in MonitoringFiles.DashboardQueries(File.ReadAllText(file)))
                {
                    var promql = Substitute(expr, variables);
                    var answer = await QueryAsync(prom, promql);
                    var line = $"{dashboard} {where}: {promql}";
                    queried.Add(where);
                    if (answer.Status != "success")
                    {
                        invalid.Add($"{line}\n    -> {answer.Error}");
                        continue;
                    }
                    var values = string.Join(", ", answer.Result.Take(3).Select(r => r.Value));
                    output.WriteLine($"{answer.Result.Count,3} series [{values}{(answer.Result.Count > 3 ? ", ..." : "")}]  {line}");
                    if (answer.Result.Count > 0)
                    {
                        continue;
                    }
                    var allowance = MayBeEmpty.FirstOrDefault(a => a.Where == where && expr.Contains(a.Fragment, StringComparison.Ordinal));
                    if (allowance.Where is null)
                    {
                        empty.Add(line);
                    }
                    else
                    {
                        emptyAllowed.Add($"{line}  ({allowance.Reason})");
                    }
                }
            }
            output.WriteLine($"\nEmpty, allowed:\n  {string.Join("\n  ", emptyAllowed)}");
            invalid.ShouldBeEmpty("every dashboard query is valid PromQL");
            empty.ShouldBeEmpty("the core dashboard queries return data after traffic");

            // Recording rules: each name answers, with data unless its allow-listed reason holds.
            var records = MonitoringFiles.Rules(MonitoringFiles.Read(MonitoringFiles.RecordingFile)).Select(r => r.Record).OfType<string>().ToList();
            records.ShouldNotBeEmpty();
            var emptyRecords = new List<string>();
            foreach (var record in records)
            {
                var answer = await QueryAsync(prom, record);
                answer.Status.ShouldBe("success", answer.Error);
                output.WriteLine($"record {record}: {answer.Result.Count} series [{string.Join(", ", answer.Result.Take(3).Select(r => r.Value))}]");
                if (answer.Result.Count == 0 && !RecordsMayBeEmpty.ContainsKey(record))
                {
                    emptyRecords.Add(record);
                }
            }
            emptyRecords.ShouldBeEmpty("recording rules with data after traffic");

            // Alert and recording rules are loaded and evaluate without error.
            var alerts = MonitoringFiles.Rules(MonitoringFiles.Read(MonitoringFiles.AlertsFile)).Select(r => r.Alert).OfType<string>().ToList();
            List<(string Name, string Type, string Health, string? LastError)> rules = [];
            await WaitForAsync("every rule has been evaluated", async () =>
            {
                rules = await RulesAsync(prom);
                return rules.Count > 0 && rules.All(r => r.Health != "unknown");
            }, TimeSpan.FromSeconds(15), prometheus, prometheusOutput);
            rules.Where(r => r.Type == "alerting").Select(r => r.Name).Order(StringComparer.Ordinal).ShouldBe(alerts.Order(StringComparer.Ordinal));
            rules.Where(r => r.Type == "recording").Select(r => r.Name).Order(StringComparer.Ordinal).ShouldBe(records.Order(StringComparer.Ordinal));
            rules.Where(r => r.Health != "ok" || !string.IsNullOrEmpty(r.LastError)).Select(r => $"{r.Name}: {r.Health} {r.LastError}")
                .ShouldBeEmpty("every rule evaluates without error");

            // Nothing is wrong with this node: no alert fires. (Pending ones are only listed: DmsNodeDown is pending while
            // Prometheus scraped before the app listened, and a loaded machine may push the p95 up for a moment.)
            var alertStates = await AlertsAsync(prom);
            output.WriteLine($"\nAlerts pending or firing: {(alertStates.Count == 0 ? "none" : string.Join(", ", alertStates.Select(a => $"{a.Name} ({a.State})")))}");
            alertStates.Where(a => a.State == "firing").Select(a => a.Name).ShouldBeEmpty("a healthy node raises no alert");

            // The allow-list names panels that exist: a renamed panel must take its entry along.
            MayBeEmpty.Select(a => a.Where).Distinct().Except(queried).ShouldBeEmpty("allow-list entries naming no dashboard panel");
        }
        finally
        {
            if (prometheus is not null)
            {
                await StopAsync(prometheus);
                prometheus.Dispose();
            }
            if (app is not null)
            {
                await StopAppAsync(app);
            }
            output.WriteLine($"\nPrometheus output (tail):\n{Tail(prometheusOutput, 3000)}");
        }
    }

    public void Dispose()
    {
        KillEmbeddedPostgres(Path.Combine(_root, "app"));
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // a leftover folder in /tmp harms nothing
        }
    }

    /// <summary>Prometheus on 127.0.0.1:<paramref name="port"/>, scraping the node every second with the repository's
    /// rule files, its TSDB in the test's temp folder.</summary>
    private System.Diagnostics.Process StartPrometheus(int port, int appPort, StringBuilder log)
    {
        var dir = Path.Combine(_root, "prometheus");
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        var config = Path.Combine(dir, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
              - "{MonitoringFiles.Path(MonitoringFiles.RecordingFile)}"
              - "{MonitoringFiles.Path(MonitoringFiles.AlertsFile)}"
            scrape_configs:
              - job_name: dms
                metrics_path: /metrics
                static_configs:
                  - targets: ["127.0.0.1:{appPort}"]
            """);
        var info = new ProcessStartInfo(PrometheusBinary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        };
        info.ArgumentList.Add($"--config.file={config}");
        info.ArgumentList.Add($"--storage.tsdb.path={Path.Combine(dir, "data")}");
        info.ArgumentList.Add($"--web.listen-address=127.0.0.1:{port}");
        var process = new System.Diagnostics.Process { StartInfo = info };
        void Append(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is not null)
            {
                lock (log)
                {
                    log.AppendLine(e.Data);
                }
            }
        }
        process.OutputDataReceived += Append;
        process.ErrorDataReceived += Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task TrafficAsync(DmsProcess app, HttpClient admin, int round)
    {
        using (var anonymous = new HttpClient { BaseAddress = app.BaseAddress })
        using (var wrong = await anonymous.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email = "admin@demo.local", password = "not-the-password" }))
        {
            wrong.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        var member = await SignInAsync(app, "member@demo.local", MemberPassword);
        for (var i = 0; i < 3; i++)
        {
            using var upload = await member.PostAsync("/api/v1/documents", Uploads.Form($"r{round}-{i}.txt", Uploads.Text($"prometheus round {round} file {i}")));
            await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        using (var session = await member.PostAsJsonAsync("/api/v1/uploads", new { fileName = $"session-{round}.txt", size = 3 }))
        {
            await session.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        foreach (var path in new[] { "/api/v1/documents?limit=20", "/api/v1/documents?q=prometheus&limit=20", "/api/v1/approvals?limit=20", "/api/v1/notifications?limit=20" })
        {
            using var get = await member.GetAsync(path);
            await get.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var audit = await admin.GetAsync("/api/v1/audit?limit=20"))
        {
            await audit.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        member.Dispose();
    }

    /// <summary>A member asks to delete a document, the admin approves, the worker executes it.</summary>
    private static async Task ApprovedDeleteAsync(DmsProcess app, HttpClient admin)
    {
        using var member = await SignInAsync(app, "member@demo.local", MemberPassword);
        using var upload = await member.PostAsync("/api/v1/documents", Uploads.Form("to-delete.txt", Uploads.Text("delete me")));
        await upload.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        using var request = await member.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "prometheus test" });
        await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approvalId = (await request.JsonAsync()).GetProperty("id").GetGuid();
        using (var approve = await admin.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" }))
        {
            await approve.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        string? status = null;
        for (var i = 0; i < 100 && status != "Executed"; i++)
        {
            await Task.Delay(100);
            using var get = await admin.GetAsync($"/api/v1/approvals/{approvalId}");
            status = (await get.JsonAsync()).GetProperty("status").GetString();
        }
        status.ShouldBe("Executed");
    }

    private static async Task<HttpClient> SignInAsync(DmsProcess server, string email, string password)
    {
        var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email, password });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await login.JsonAsync()).GetProperty("accessToken").GetString());
        return http;
    }

    /// <summary>The template variables the dashboards define, each with what stands for it in a query here.</summary>
    private static Dictionary<string, string> DashboardVariables()
    {
        // Grafana's own: a rate window of a few scrapes (1 s here) and the range shown.
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["__rate_interval"] = "1m",
            ["__interval"] = "1m",
            ["__range"] = "1m",
        };
        foreach (var file in Directory.GetFiles(MonitoringFiles.Path(MonitoringFiles.DashboardsFolder), "*.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            if (!doc.RootElement.TryGetProperty("templating", out var templating) || !templating.TryGetProperty("list", out var list))
            {
                continue;
            }
            foreach (var variable in list.EnumerateArray())
            {
                var name = variable.GetProperty("name").GetString()!;
                // A query or custom variable is used in =~ matchers ("All" selected); a data source never in PromQL.
                values.TryAdd(name, variable.GetProperty("type").GetString() == "datasource" ? "" : ".*");
            }
        }
        return values;
    }

    private static string Substitute(string expr, Dictionary<string, string> variables)
    {
        var result = GrafanaVariable().Replace(expr, m =>
        {
            var name = m.Groups["braced"].Success ? m.Groups["braced"].Value : m.Groups["plain"].Value;
            name = name.Split(':')[0]; // ${var:format}
            return variables.TryGetValue(name, out var value) ? value : throw new InvalidOperationException($"Unknown template variable {m.Value} in: {expr}");
        });
        return result;
    }

    [GeneratedRegex(@"\$\{(?<braced>[^}]+)\}|\$(?<plain>\w+)")]
    private static partial Regex GrafanaVariable();

    private sealed record QueryAnswer(string Status, string? Error, IReadOnlyList<(string Labels, string Value)> Result);

    private static async Task<QueryAnswer> QueryAsync(HttpClient prom, string promql)
    {
        using var response = await prom.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(promql)}");
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        var status = root.GetProperty("status").GetString() ?? "";
        if (status != "success")
        {
            return new QueryAnswer(status, $"{(root.TryGetProperty("errorType", out var t) ? t.GetString() : "")}: {(root.TryGetProperty("error", out var e) ? e.GetString() : body)}", []);
        }
        var data = root.GetProperty("data");
        var result = new List<(string, string)>();
        switch (data.GetProperty("resultType").GetString())
        {
            case "vector":
                foreach (var sample in data.GetProperty("result").EnumerateArray())
                {
                    result.Add((sample.GetProperty("metric").ToString(), sample.GetProperty("value")[1].GetString() ?? ""));
                }
                break;
            case "scalar":
            case "string":
                result.Add(("", data.GetProperty("result")[1].GetString() ?? ""));
                break;
            default:
                foreach (var series in data.GetProperty("result").EnumerateArray())
                {
                    result.Add((series.GetProperty("metric").ToString(), "(range)"));
                }
                break;
        }
        return new QueryAnswer(status, null, result);
    }

    private static async Task<List<(string Name, string Type, string Health, string? LastError)>> RulesAsync(HttpClient prom)
    {
        using var doc = JsonDocument.Parse(await prom.GetStringAsync("/api/v1/rules"));
        var rules = new List<(string, string, string, string?)>();
        foreach (var group in doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray())
        {
            foreach (var rule in group.GetProperty("rules").EnumerateArray())
            {
                rules.Add((rule.GetProperty("name").GetString() ?? "", rule.GetProperty("type").GetString() ?? "", rule.GetProperty("health").GetString() ?? "",
                    rule.TryGetProperty("lastError", out var error) ? error.GetString() : null));
            }
        }
        return rules;
    }

    private static async Task<List<(string Name, string State)>> AlertsAsync(HttpClient prom)
    {
        using var doc = JsonDocument.Parse(await prom.GetStringAsync("/api/v1/alerts"));
        return doc.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray()
            .Select(a => (a.GetProperty("labels").GetProperty("alertname").GetString() ?? "", a.GetProperty("state").GetString() ?? "")).ToList();
    }

    private static async Task WaitForAsync(string what, Func<Task<bool>> condition, TimeSpan timeout, System.Diagnostics.Process prometheus, StringBuilder log)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (prometheus.HasExited)
            {
                throw new InvalidOperationException($"Prometheus exited with {prometheus.ExitCode}:\n{Tail(log, 3000)}");
            }
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (JsonException)
            {
                // "Service Unavailable" in plain text while its storage starts
            }
            catch (TaskCanceledException)
            {
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"Timed out waiting until {what}. Prometheus said:\n{Tail(log, 3000)}");
    }

    private static async Task StopAsync(System.Diagnostics.Process process)
    {
        if (process.HasExited)
        {
            return;
        }
        using (var term = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM (the app stops its embedded PostgreSQL itself), then SIGKILL to the tree if it hangs.</summary>
    private static async Task StopAppAsync(DmsProcess app)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(app.Pid);
            if (!process.HasExited)
            {
                var stop = app.StopAsync();
                if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(30))) != stop)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        catch (ArgumentException)
        {
            // already gone
        }
        finally
        {
            app.Dispose();
        }
    }

    private static void KillEmbeddedPostgres(string dataDirectory)
    {
        var pid = Path.Combine(dataDirectory, "postgres", "pgdata", "postmaster.pid");
        if (File.Exists(pid) && int.TryParse(File.ReadLines(pid).FirstOrDefault(), out var postmaster))
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(postmaster);
                process.Kill(entireProcessTree: true);
            }
            catch (ArgumentException)
            {
            }
        }
    }

    private static string Tail(StringBuilder log, int chars)
    {
        lock (log)
        {
            var text = log.ToString();
            return text.Length <= chars ? text : text[^chars..];
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
