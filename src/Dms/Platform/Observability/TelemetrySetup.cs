using System.Diagnostics;
using System.Net;
using Dms.Platform.Configuration;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Dms.Platform.Observability;

/// <summary>
/// OpenTelemetry for the app (ADR 0021): metrics always (served on <c>/metrics</c> in Prometheus format), traces when
/// an OTLP endpoint is configured by the standard <c>OTEL_*</c> variables or <c>Dms__Tracing__Enabled</c> is set.
/// </summary>
internal static class TelemetrySetup
{
    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder, bool runBackgroundWork)
    {
        var options = builder.Configuration.GetSection(DmsOptions.Section).Get<DmsOptions>() ?? new DmsOptions();
        var otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
            || !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("dms", serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}")
                .AddAttributes([new("dms.role", options.Role)]))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(DmsTelemetry.Name, "Dms.Storage")
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddNpgsqlInstrumentation()
                    .AddPrometheusExporter();
                if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]))
                {
                    metrics.AddOtlpExporter();
                }
            });
        if (otlp || options.Tracing.Enabled)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(DmsTelemetry.Name)
                    .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsQuiet(http.Request.Path))
                    .AddHttpClientInstrumentation()
                    .AddNpgsql();
                if (otlp)
                {
                    tracing.AddOtlpExporter();
                }
            });
        }
        // Trace and span ids in every log line (the JSON console writes them with the scopes).
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        AuditHealth.Register();
        NodeInfo.Register(options.Role);
        builder.Services.AddHostedService<SlowQueryLog>();
        if (runBackgroundWork)
        {
            builder.Services.AddSingleton<MetricsSampler>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsSampler>());
        }
        if (options.Management.Urls is { Length: > 0 } management)
        {
            // The app listens on its own URLs and on the management ones; /metrics answers only on the latter.
            var main = builder.Configuration["urls"] is { Length: > 0 } urls ? urls : "http://localhost:5080";
            builder.WebHost.UseUrls([.. main.Split(';', StringSplitOptions.RemoveEmptyEntries), .. management.Split(';', StringSplitOptions.RemoveEmptyEntries)]);
        }
        return builder;
    }

    /// <summary>Scrapes and probes are not traced (they would be most of the spans).</summary>
    private static bool IsQuiet(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/health");

    /// <summary>
    /// <c>GET /metrics</c>: on the management port when one is configured (to anyone who reaches it), otherwise on the main
    /// port to loopback callers and the networks of <c>Dms__Metrics__AllowedNetworks</c>; anyone else gets 404 as for
    /// any unknown path. First in the pipeline, judged on the socket's peer (never a forwarded header).
    /// </summary>
    public static WebApplication UseMetricsEndpoint(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DmsOptions>>().Value;
        var managementPorts = (options.Management.Urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(u => BindingAddress.Parse(u.Trim()).Port).ToHashSet();
        var allowed = options.Metrics.AllowedNetworks.Select(n => IPNetwork.Parse(n.Trim())).ToList();
        app.UseOpenTelemetryPrometheusScrapingEndpoint(http =>
        {
            if (http.Request.Path != "/metrics")
            {
                return false;
            }
            if (managementPorts.Count > 0)
            {
                return managementPorts.Contains(http.Connection.LocalPort);
            }
            var peer = http.Connection.RemoteIpAddress;
            // The in-memory test server has no socket: it is the test process itself.
            return peer is null || IPAddress.IsLoopback(peer) || (peer.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(peer.MapToIPv4()))
                || allowed.Any(n => n.Contains(peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer));
        });
        return app;
    }
}
