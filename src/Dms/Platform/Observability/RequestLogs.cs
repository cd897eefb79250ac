using System.Diagnostics;
using Dms.Platform.Configuration;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Dms.Platform.Observability;

/// <summary>
/// What the logs say about requests and database commands (issue 14): one line per request at Information only when
/// <c>Dms__Logs__Requests</c> is on, a warning for a request slower than <c>Dms__Logs__SlowRequest</c> and for a database
/// command slower than <c>Dms__Logs__SlowQuery</c>. Requests are named by their route pattern, never by their path or
/// query string (ids, signed URLs' signatures); commands by their SQL text, never their parameters.
/// </summary>
internal static class RequestLogs
{
    public static WebApplication UseRequestLogs(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<DmsOptions>>().Value.Logs;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Dms.Requests");
        app.Use(async (context, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(context);
            }
            finally
            {
                var elapsed = Stopwatch.GetElapsedTime(started);
                var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(unrouted)";
                if (elapsed >= options.SlowRequest)
                {
                    logger.LogWarning("Slow request: {Method} {Route} answered {Status} in {ElapsedMs:F0} ms",
                        context.Request.Method, route, context.Response.StatusCode, elapsed.TotalMilliseconds);
                }
                else if (options.Requests)
                {
                    logger.LogInformation("{Method} {Route} answered {Status} in {ElapsedMs:F0} ms",
                        context.Request.Method, route, context.Response.StatusCode, elapsed.TotalMilliseconds);
                }
            }
        });
        return app;
    }
}

/// <summary>Logs database commands slower than <c>Dms__Logs__SlowQuery</c> from Npgsql's own activities.</summary>
internal sealed class SlowQueryLog : IHostedService, IDisposable
{
    private readonly ActivityListener _listener;

    public SlowQueryLog(IOptions<DmsOptions> options, ILogger<SlowQueryLog> logger)
    {
        var threshold = options.Value.Logs.SlowQuery;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.Duration >= threshold)
                {
                    logger.LogWarning("Slow query: {ElapsedMs:F0} ms: {Sql}", activity.Duration.TotalMilliseconds,
                        activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement") ?? activity.DisplayName);
                }
            },
        };
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        ActivitySource.AddActivityListener(_listener);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _listener.Dispose();
}
