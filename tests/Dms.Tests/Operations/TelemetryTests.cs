using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Dms.Modules.Audit;
using Dms.Platform.Observability;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using Shouldly;
using Xunit;

namespace Dms.Tests.Operations;

/// <summary>
/// /metrics and traces (issue 14) on an app of its own: traffic first, then the scrape must hold every metric the
/// operations docs name, with values that moved the way the traffic says; one approval's trace runs from the request
/// through the outbox handler to storage.
/// </summary>
[Collection(nameof(TelemetryRunsAlone))]
public sealed partial class TelemetryTests : IAsyncLifetime
{
    private readonly List<Activity> _spans = [];
    private DmsApp _app = null!;

    public async Task InitializeAsync() =>
        _app = await DmsApp.CreateIsolatedAsync($"telemetry_{Guid.NewGuid():N}"[..20],
            new Dictionary<string, string>
            {
                ["Dms:Tracing:Enabled"] = "true",
                ["Dms:Metrics:AllowedNetworks:0"] = "10.0.0.0/8",
                ["Dms:Previews:Enabled"] = "false",
                ["Dms:Outbox:MaxAttempts"] = "1000",
            },
            services => services.ConfigureOpenTelemetryTracerProvider(b => b.AddInMemoryExporter(_spans)));

    public async Task DisposeAsync()
    {
        if (Directory.Exists(_app.BlobRoot + ".away"))
        {
            Directory.Move(_app.BlobRoot + ".away", _app.BlobRoot);
        }
        await _app.DisposeAsync();
    }

    /// <summary>The samples of <paramref name="name"/> in a scrape, by their label set.</summary>
    private static Dictionary<string, double> Samples(string scrape, string name) =>
        SampleLine().Matches(scrape).Where(m => m.Groups["name"].Value == name)
            .GroupBy(m => m.Groups["labels"].Value)
            .ToDictionary(g => g.Key, g => double.Parse(g.Last().Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?<labels>\{[^}]*\})? (?<value>[-+0-9.eE]+|NaN|\+Inf|-Inf)", RegexOptions.Multiline)]
    private static partial Regex SampleLine();

    private async Task<string> ScrapeAsync()
    {
        await _app.Service<MetricsSampler>().SampleAsync(CancellationToken.None);
        using var response = await _app.CreateClient().GetAsync("/metrics");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task After_traffic_the_scrape_holds_every_documented_metric_and_the_outbox_backlog_follows_a_storage_outage()
    {
        var tenant = await _app.CreateTenantAsync();
        var second = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");
        using (var wrong = await _app.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = tenant.Slug, email = "admin@example.test", password = "wrong-password" }))
        {
            wrong.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        using (var session = await member.Client.PostAsJsonAsync("/api/v1/uploads", new { fileName = "a.txt", size = 3 }))
        {
            await session.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        using var upload = await member.Client.PostAsync("/api/v1/documents", Uploads.Form("t.txt", Uploads.Text("telemetry"), "Telemetry"));
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        await _app.Service<AuditCheckpoints>().RunOnceAsync(CancellationToken.None);

        // The upload's own messages (text extraction, notifications) run on the worker a moment later.
        var before = await ScrapeAsync();
        for (var i = 0; i < 100 && Samples(before, "dms_outbox_handler_duration_seconds_bucket").Count == 0; i++)
        {
            await Task.Delay(100);
            before = await ScrapeAsync();
        }
        before.ShouldContain("dotnet_gc_collections_total", Case.Sensitive, "runtime metrics");
        Samples(before, "dms_auth_signin_failures_total").Values.Sum().ShouldBeGreaterThanOrEqualTo(1);
        Samples(before, "dms_upload_bytes_total").Values.Sum().ShouldBeGreaterThanOrEqualTo("telemetry".Length);
        Samples(before, "dms_audit_verification_ok").Values.ShouldAllBe(v => v == 1);
        Samples(before, "http_server_request_duration_seconds_count").Keys.ShouldContain(k => k.Contains("http_route=\"/api/v1/documents/\""));
        Samples(before, "http_server_request_duration_seconds_count").Keys.ShouldNotContain(k => k.Contains(documentId.ToString()), "routes, never ids");

        // Storage goes away: an approved replacement cannot be carried out, its message waits and the backlog shows it.
        Directory.Move(_app.BlobRoot, _app.BlobRoot + ".away");
        var form = new MultipartFormDataContent { { new ByteArrayContent(Uploads.Text("v2")), "file", "t.txt" }, { new StringContent("newer"), "reason" } };
        Guid approvalId;
        Directory.Move(_app.BlobRoot + ".away", _app.BlobRoot); // the staged upload itself needs storage
        using (var replace = await member.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests", form))
        {
            approvalId = (await replace.JsonAsync()).GetProperty("id").GetGuid();
        }
        Directory.Move(_app.BlobRoot, _app.BlobRoot + ".away");
        (await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { })).EnsureSuccessStatusCode();
        string during = "";
        for (var i = 0; i < 100; i++)
        {
            during = await ScrapeAsync();
            if (Samples(during, "dms_storage_errors_total").Values.Sum() > 0 && Samples(during, "dms_outbox_backlog").Any(s => s.Key.Contains("type=\"approval.execute\"") && s.Value >= 1))
            {
                break;
            }
            await Task.Delay(100);
        }
        Samples(during, "dms_outbox_backlog").Where(s => s.Key.Contains("type=\"approval.execute\"")).Sum(s => s.Value).ShouldBeGreaterThanOrEqualTo(1);
        Samples(during, "dms_storage_errors_total").Values.Sum().ShouldBeGreaterThan(0);
        Samples(during, "dms_approvals_transitions_total").Where(s => s.Key.Contains("status=\"Approved\"")).Sum(s => s.Value).ShouldBe(1);
        Samples(during, "dms_outbox_handler_duration_seconds_count").Keys.ShouldContain(k => k.Contains("outcome=\"retry\""));

        // Every metric docs/observability.md names (what the alert rules and dashboards may use) is in a real scrape,
        // but those that only appear with what this traffic does not do: S3 calls, pool waits, dead messages, lockouts.
        string[] conditional =
        [
            "http_client_request_duration_seconds_bucket", "http_client_request_duration_seconds_sum", "http_client_request_duration_seconds_count",
            "db_client_connection_npgsql_pending_requests", "dms_outbox_dead", "dms_auth_lockouts_total",
            // Webhook deliveries: only once a tenant has a webhook (WebhookTests send real ones).
            "dms_webhooks_deliveries_total", "dms_webhooks_delivery_duration_seconds_bucket", "dms_webhooks_delivery_duration_seconds_sum",
            "dms_webhooks_delivery_duration_seconds_count",
            // Cache invalidation: only once another change notifies this node / its listener reconnects (CrossNodeCacheTests).
            "dms_cache_notifications_total", "dms_cache_listener_reconnects_total",
            // Only on a node with a read replica (ConnectionStrings__DmsReplica; Replica.ReplicaTests drive them).
            "dms_db_reads_total", "dms_db_replica_lag_seconds", "dms_db_replica_lag_bytes", "dms_db_replica_up",
        ];
        var documented = Deploy.MonitoringFiles.DocumentedMetricNames(Deploy.MonitoringFiles.Read("docs/observability.md"));
        documented.Count.ShouldBeGreaterThan(30);
        documented.Except(conditional).Where(name => Samples(before, name).Count == 0 && Samples(during, name).Count == 0).ShouldBeEmpty(
            "every documented metric is in the scrape");

        Directory.Move(_app.BlobRoot + ".away", _app.BlobRoot);
        string after = "";
        for (var i = 0; i < 200; i++)
        {
            after = await ScrapeAsync();
            if (Samples(after, "dms_outbox_backlog").Where(s => s.Key.Contains("type=\"approval.execute\"")).Sum(s => s.Value) == 0)
            {
                break;
            }
            await Task.Delay(100);
        }
        Samples(after, "dms_outbox_backlog").Where(s => s.Key.Contains("type=\"approval.execute\"")).Sum(s => s.Value).ShouldBe(0, "the backlog drains once storage is back");
        Samples(after, "dms_approvals_transitions_total").Where(s => s.Key.Contains("status=\"Executed\"")).Sum(s => s.Value).ShouldBe(1);
        _ = second;
    }

    [Fact]
    public async Task Metrics_answer_loopback_and_allowed_networks_only()
    {
        async Task<int> FromAsync(string address)
        {
            var context = await _app.Server.SendAsync(c =>
            {
                c.Request.Method = "GET";
                c.Request.Path = "/metrics";
                c.Connection.RemoteIpAddress = IPAddress.Parse(address);
            });
            return context.Response.StatusCode;
        }
        (await FromAsync("127.0.0.1")).ShouldBe(StatusCodes.Status200OK);
        (await FromAsync("::1")).ShouldBe(StatusCodes.Status200OK);
        (await FromAsync("10.20.30.40")).ShouldBe(StatusCodes.Status200OK, "in Dms__Metrics__AllowedNetworks");
        (await FromAsync("203.0.113.9")).ShouldBe(StatusCodes.Status404NotFound, "anyone else: as if there were no such path");
    }

    [Fact]
    public async Task One_trace_runs_from_the_approval_through_its_execution_to_storage()
    {
        var tenant = await _app.CreateTenantAsync();
        var second = await tenant.CreateUserAsync("Admin");
        using var upload = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("t.txt", Uploads.Text("one"), "Traced"));
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        var form = new MultipartFormDataContent { { new ByteArrayContent(Uploads.Text("two")), "file", "t.txt" }, { new StringContent("traced"), "reason" } };
        using var replace = await tenant.Admin.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests", form);
        var approvalId = (await replace.JsonAsync()).GetProperty("id").GetGuid();
        using var approve = await second.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { });
        await approve.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var traceparent = approve.Headers.TryGetValues("traceparent", out var values) ? values.Single() : null;

        Activity? execute = null;
        for (var i = 0; i < 200 && execute is null; i++)
        {
            lock (_spans)
            {
                execute = _spans.FirstOrDefault(s => s.DisplayName == "outbox approval.execute");
            }
            await Task.Delay(50);
        }
        execute.ShouldNotBeNull("the execution handler has a span");
        Activity[] spans;
        lock (_spans)
        {
            spans = [.. _spans];
        }
        var request = spans.Single(s => s.Kind == ActivityKind.Server && s.DisplayName.Contains("approve", StringComparison.Ordinal)
            && s.GetTagItem("url.path") is string path && path.Contains(approvalId.ToString(), StringComparison.Ordinal));
        execute.TraceId.ShouldBe(request.TraceId, "the handler continues the approving request's trace");
        spans.Where(s => s.TraceId == request.TraceId && s.DisplayName.StartsWith("storage ", StringComparison.Ordinal) && s.ParentSpanId == execute.SpanId)
            .ShouldNotBeEmpty("the storage calls of the execution are in the same trace");
        _ = traceparent;
    }
}

/// <summary>Metrics are process-wide: these tests run alone, with no other test's traffic in the counters they read.</summary>
[CollectionDefinition(nameof(TelemetryRunsAlone), DisableParallelization = true)]
public sealed class TelemetryRunsAlone;
