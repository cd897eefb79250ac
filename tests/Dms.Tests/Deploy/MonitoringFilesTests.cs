using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Shouldly;
using Xunit;

namespace Dms.Tests.Deploy;

/// <summary>
/// The alert rules, recording rules and dashboards against their contract: every alert can be acted on (severity,
/// summary, description, an existing runbook), is unit-tested by promtool both ways, and every metric name a rule or
/// a panel uses is one docs/observability.md lists as exported, so a misspelt name fails here instead of showing an
/// empty panel or an alert that can never fire.
/// </summary>
public sealed partial class MonitoringFilesTests
{
    private static readonly string[] RunbookSections = ["What it means", "First checks", "Commands", "Recover", "Verify"];

    private static List<MonitoringFiles.Rule> Alerts() =>
        MonitoringFiles.Rules(MonitoringFiles.Read(MonitoringFiles.AlertsFile)).Where(r => r.Alert is not null).ToList();

    private static IEnumerable<string> Dashboards() =>
        Directory.EnumerateFiles(MonitoringFiles.Path(MonitoringFiles.DashboardsFolder), "*.json").Order(StringComparer.Ordinal);

    [Fact]
    public void Every_alert_has_a_severity_a_summary_a_description_and_an_existing_runbook()
    {
        var alerts = Alerts();
        alerts.Count.ShouldBeGreaterThanOrEqualTo(8);
        var problems = new List<string>();
        foreach (var alert in alerts)
        {
            if (!alert.Labels.TryGetValue("severity", out var severity) || severity is not ("page" or "ticket"))
            {
                problems.Add($"{alert.Name}: labels.severity must be page or ticket");
            }
            foreach (var annotation in new[] { "summary", "description" })
            {
                if (!alert.Annotations.TryGetValue(annotation, out var text) || string.IsNullOrWhiteSpace(text))
                {
                    problems.Add($"{alert.Name}: annotations.{annotation} is missing");
                }
            }
            if (!alert.Annotations.TryGetValue("runbook_url", out var runbook) || !RunbookPath().IsMatch(runbook))
            {
                problems.Add($"{alert.Name}: annotations.runbook_url must name a file under docs/runbooks/");
                continue;
            }
            if (!File.Exists(MonitoringFiles.Path(runbook)))
            {
                problems.Add($"{alert.Name}: {runbook} does not exist");
                continue;
            }
            var headings = File.ReadAllLines(MonitoringFiles.Path(runbook)).Where(l => l.StartsWith("## ", StringComparison.Ordinal)).ToList();
            foreach (var section in RunbookSections.Where(s => !headings.Any(h => h.Contains(s, StringComparison.OrdinalIgnoreCase))))
            {
                problems.Add($"{alert.Name}: {runbook} has no '## {section}' section");
            }
        }
        problems.ShouldBeEmpty();
    }

    [Fact]
    public void Every_alert_is_in_the_documented_alert_table()
    {
        var doc = MonitoringFiles.Read(MonitoringFiles.ObservabilityDoc);
        Alerts().Select(a => a.Name).Where(name => !doc.Contains($"| `{name}` |", StringComparison.Ordinal)).ShouldBeEmpty();
    }

    [Fact]
    public void Every_alert_has_a_firing_and_a_quiet_promtool_test_case()
    {
        var cases = new List<MonitoringFiles.AlertCase>();
        foreach (var file in Directory.EnumerateFiles(MonitoringFiles.Path(MonitoringFiles.RuleTestsFolder), "*.yml"))
        {
            var name = System.IO.Path.GetFileName(file);
            cases.AddRange(MonitoringFiles.AlertCases(name, File.ReadAllText(file), out var ruleFiles));
            // Each test file loads both files: the alerts read the recording rules' series.
            ruleFiles.ShouldBe(["../recording.yml", "../alerts.yml"], ignoreOrder: true, customMessage: name);
        }
        var problems = new List<string>();
        foreach (var alert in Alerts().Select(a => a.Name))
        {
            if (!cases.Any(c => c.Alert == alert && c.ExpectsFiring))
            {
                problems.Add($"{alert}: no case where it fires");
            }
            if (!cases.Any(c => c.Alert == alert && !c.ExpectsFiring))
            {
                problems.Add($"{alert}: no case where it stays quiet");
            }
        }
        var alertNames = Alerts().Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
        problems.AddRange(cases.Where(c => !alertNames.Contains(c.Alert)).Select(c => $"{c.File}: tests an unknown alert {c.Alert}"));
        problems.ShouldBeEmpty();
    }

    [Fact]
    public void Every_metric_the_rules_use_is_a_documented_one()
    {
        var known = MonitoringFiles.KnownNames();
        var unknown = new[] { MonitoringFiles.RecordingFile, MonitoringFiles.AlertsFile }
            .SelectMany(f => MonitoringFiles.Rules(MonitoringFiles.Read(f)).Select(r => (File: f, Rule: r)))
            .SelectMany(x => MonitoringFiles.UnknownNames(x.Rule.Expr, known).Select(n => $"{x.File} {x.Rule.Name}: {n}"))
            .ToList();
        unknown.ShouldBeEmpty();
    }

    [Fact]
    public void Every_metric_the_dashboards_use_is_a_documented_one()
    {
        var known = MonitoringFiles.KnownNames();
        var problems = new List<string>();
        foreach (var file in Dashboards())
        {
            var queries = MonitoringFiles.DashboardQueries(File.ReadAllText(file));
            queries.ShouldNotBeEmpty(file);
            problems.AddRange(queries.SelectMany(q => MonitoringFiles.UnknownNames(q.Expr, known)
                .Select(n => $"{System.IO.Path.GetFileName(file)} {q.Where}: {n}")));
        }
        problems.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("rate(dms_storage_erors_total[5m])", "dms_storage_erors_total")]
    [InlineData("histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_second_bucket{job=\"dms\"}[5m])))", "http_server_request_duration_second_bucket")]
    [InlineData("dms:http_errors:ratio_rate5 > 0.05 and dms:http_requests:rate5m > 0.1", "dms:http_errors:ratio_rate5")]
    [InlineData("max by (lane) (dms_outbox_oldest_pending_age) > 900", "dms_outbox_oldest_pending_age")]
    // A histogram is exported as _bucket/_sum/_count only: its bare name selects nothing.
    [InlineData("dms_storage_operation_duration_seconds", "dms_storage_operation_duration_seconds")]
    // Families listed with '*' are not usable until their exact name is documented.
    [InlineData("dotnet_gc_heap_size_bytes", "dotnet_gc_heap_size_bytes")]
    public void The_check_catches_a_misspelt_metric(string promql, string misspelt) =>
        MonitoringFiles.UnknownNames(promql, MonitoringFiles.KnownNames()).ShouldBe([misspelt]);

    [Fact]
    public void The_check_catches_a_misspelt_metric_in_a_copy_of_the_real_files()
    {
        var known = MonitoringFiles.KnownNames();

        var alerts = MonitoringFiles.Read(MonitoringFiles.AlertsFile);
        alerts.ShouldContain("dms_audit_verification_ok");
        var brokenAlerts = alerts.Replace("dms_audit_verification_ok", "dms_audit_verificaton_ok", StringComparison.Ordinal);
        MonitoringFiles.Rules(brokenAlerts).SelectMany(r => MonitoringFiles.UnknownNames(r.Expr, known)).ShouldBe(["dms_audit_verificaton_ok"]);

        var dashboard = File.ReadAllText(MonitoringFiles.Path($"{MonitoringFiles.DashboardsFolder}/database.json"));
        dashboard.ShouldContain("db_client_connection_npgsql_pending_requests");
        var brokenDashboard = dashboard.Replace("db_client_connection_npgsql_pending_requests", "db_client_connections_pending_requests", StringComparison.Ordinal);
        MonitoringFiles.DashboardQueries(brokenDashboard).SelectMany(q => MonitoringFiles.UnknownNames(q.Expr, known)).Distinct()
            .ShouldBe(["db_client_connections_pending_requests"]);
    }

    [Theory]
    [InlineData("up{job=\"dms\"} == 0", "up")]
    [InlineData("sum by (job, le) (rate(a_bucket{job=\"dms\", le=\"+Inf\"}[5m])) / on(job) group_left sum without (instance) (b)", "a_bucket b")]
    [InlineData("histogram_quantile(0.95, sum(rate(x_bucket[$__rate_interval])) by (le)) > 1e3", "x_bucket")]
    [InlineData("max_over_time(deriv(c[1h:5m])[30m:1m] offset 1h30m) and bool d @ start()", "c d")]
    [InlineData("sum(dms:x:ratio) or on() vector(0) unless absent(y{instance=~\"$instance\"})", "dms:x:ratio y")]
    [InlineData("label_replace(z, \"dst\", \"$1\", \"src\", \"(.*)\") * Inf - NaN", "z")]
    [InlineData("count_values(\"version\", w) > bool 0x1F", "w")]
    public void The_check_reads_metric_names_and_nothing_else(string promql, string expected) =>
        string.Join(' ', MonitoringFiles.MetricNames(promql)).ShouldBe(expected);

    [Fact]
    public void The_documented_names_are_read_from_the_metric_table()
    {
        var names = MonitoringFiles.DocumentedMetricNames(MonitoringFiles.Read(MonitoringFiles.ObservabilityDoc));
        names.ShouldContain("dms_outbox_dead");
        names.ShouldContain("dms_storage_errors_total");
        names.ShouldContain("http_server_request_duration_seconds_bucket");
        names.ShouldContain("db_client_connection_npgsql_create_time_seconds_count");
        names.ShouldNotContain("http_server_request_duration_seconds");
        names.ShouldNotContain(n => n.Contains('*', StringComparison.Ordinal));
    }

    [Fact]
    public void Every_dashboard_picks_its_prometheus_through_the_datasource_variable()
    {
        Dashboards().Select(f => System.IO.Path.GetFileNameWithoutExtension(f))
            .ShouldBe(["database", "outbox", "overview", "storage"], ignoreOrder: true);
        var uids = new List<string>();
        foreach (var file in Dashboards())
        {
            var name = System.IO.Path.GetFileName(file);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var root = doc.RootElement;
            uids.Add(root.GetProperty("uid").GetString() ?? "");
            root.GetProperty("schemaVersion").GetInt32().ShouldBeGreaterThanOrEqualTo(39, name);
            root.GetProperty("templating").GetProperty("list").EnumerateArray()
                .Count(v => v.GetProperty("name").GetString() == "datasource" && v.GetProperty("type").GetString() == "datasource"
                            && v.GetProperty("query").GetString() == "prometheus")
                .ShouldBe(1, name);
            foreach (var panel in root.GetProperty("panels").EnumerateArray().Where(p => p.GetProperty("type").GetString() != "row"))
            {
                var title = $"{name} '{panel.GetProperty("title").GetString()}'";
                panel.GetProperty("datasource").GetProperty("uid").GetString().ShouldBe("${datasource}", title);
                panel.GetProperty("targets").GetArrayLength().ShouldBeGreaterThan(0, title);
                foreach (var target in panel.GetProperty("targets").EnumerateArray())
                {
                    target.GetProperty("datasource").GetProperty("uid").GetString().ShouldBe("${datasource}", title);
                }
            }
        }
        uids.ShouldBeUnique();
    }

    /// <summary>promtool parses every dashboard query (as a recording rule, Grafana's variables replaced by plain
    /// values): a syntax error in a panel shows here, not as an empty panel. promtool comes with Debian's prometheus
    /// package, which test.sh installs.</summary>
    [Fact]
    public async Task Every_dashboard_query_is_valid_PromQL()
    {
        var queries = Dashboards().SelectMany(f => MonitoringFiles.DashboardQueries(File.ReadAllText(f))
            .Select(q => (Where: $"{System.IO.Path.GetFileName(f)} {q.Where}", q.Expr))).ToList();
        var dir = Directory.CreateTempSubdirectory("dms-dashboard-rules-");
        try
        {
            var rules = string.Join('\n', queries.Select((q, i) =>
                $"      - record: dashboard:q{i}\n        expr: {JsonSerializer.Serialize(GrafanaValues(q.Expr))}"));
            var file = System.IO.Path.Combine(dir.FullName, "dashboards.yml");
            await File.WriteAllTextAsync(file, $"groups:\n  - name: dashboards\n    rules:\n{rules}\n");

            var (exit, output) = await RunAsync("promtool", "check", "rules", file);

            exit.ShouldBe(0, output + string.Join('\n', queries.Select((q, i) => $"dashboard:q{i} is {q.Where}")));
            output.ShouldContain($"SUCCESS: {queries.Count} rules found");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string GrafanaValues(string expr) =>
        expr.Replace("$__rate_interval", "5m", StringComparison.Ordinal).Replace("$__interval", "1m", StringComparison.Ordinal)
            .Replace("$instance", ".*", StringComparison.Ordinal);

    private static async Task<(int Exit, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{program} not found ({e.Message}): install Debian's prometheus package (test.sh does).", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await stdout + await stderr);
        }
    }

    [GeneratedRegex(@"^docs/runbooks/[a-z0-9-]+\.md$")]
    private static partial Regex RunbookPath();
}
