using System.Diagnostics.Metrics;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Dms.Platform.Http.Idempotency;

internal static class IdempotencyServices
{
    public static IServiceCollection AddIdempotency(this IServiceCollection services, bool runBackgroundWork)
    {
        DbEnums.Register<IdempotencyKeyState>();
        services.AddSingleton<IdempotencyStore>();
        // Stored answers are encrypted with the app's data-protection key ring (the one the web UI's cookies use, shared
        // by every node through Dms__Ui__KeysDirectory): a database dump or backup shows no token or secret.
        services.AddDataProtection().SetApplicationName("dms");
        if (runBackgroundWork)
        {
            services.AddHostedService<IdempotencyCleanup>();
        }
        services.Configure<OpenApiOptions>("v1", o => o.AddOperationTransformer((operation, context, _) =>
        {
            var method = context.Description.HttpMethod;
            if (context.Description.RelativePath?.StartsWith("api/v1/", StringComparison.OrdinalIgnoreCase) == true &&
                (string.Equals(method, "POST", StringComparison.OrdinalIgnoreCase) || string.Equals(method, "PATCH", StringComparison.OrdinalIgnoreCase)))
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = IdempotencyKeys.Header,
                    In = ParameterLocation.Header,
                    Required = false,
                    Description = "Makes a retry safe: the first answer is replayed for 24 hours to a retry with the same key and request " +
                        "(marked Idempotent-Replayed: true); the same key with another request is a 422 idempotency.key_reused. " +
                        "1 to 255 printable ASCII characters, per user.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = IdempotencyKeys.MaxKeyLength },
                });
            }
            return Task.CompletedTask;
        }));
        IdempotencyMetrics.Start();
        return services;
    }

    /// <summary>After authentication (keys are per user), authorization and rate limits (a refused request claims nothing).</summary>
    public static IApplicationBuilder UseIdempotencyKeys(this IApplicationBuilder app) => app.UseMiddleware<IdempotencyKeys>();
}

/// <summary><c>dms_idempotency_requests_total{outcome}</c>: what requests carrying a key came to.</summary>
internal static class IdempotencyMetrics
{
    private static readonly string[] Outcomes = ["stored", "released", "replayed", "key_reused", "in_progress"];
    private static readonly long[] Counts = new long[Outcomes.Length];

    /// <summary>
    /// Observed rather than added to: every outcome is in every scrape from the start, 0 included, whenever the exporter
    /// began listening (a first replay after a start then shows as an increase).
    /// </summary>
    public static void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            DmsTelemetry.Meter.CreateObservableCounter("dms.idempotency.requests",
                () => Outcomes.Select((o, i) => new Measurement<long>(Interlocked.Read(ref Counts[i]), new KeyValuePair<string, object?>("outcome", o))),
                null, "Requests with an Idempotency-Key by outcome (stored, released, replayed, key_reused, in_progress)");
        }
    }

    private static int _started;

    public static void Count(string outcome) => Interlocked.Increment(ref Counts[Array.IndexOf(Outcomes, outcome)]);
}

/// <summary>Deletes keys past <c>Dms__Idempotency__Retention</c> every <c>Dms__Idempotency__CleanupInterval</c>, one node at a time.</summary>
internal sealed class IdempotencyCleanup(Db db, IdempotencyStore store, IOptions<DmsOptions> options, TimeProvider clock, ILogger<IdempotencyCleanup> logger)
    : BackgroundService
{
    public async Task<int?> RunOnceAsync(CancellationToken ct)
    {
        var deleted = 0;
        var tenants = await db.ForEachTenantUnderLockAsync(IdempotencyStore.AdvisoryLockKey, async (tenant, token) =>
            deleted += await store.DeleteExpiredAsync(tenant, token), ct);
        if (deleted > 0)
        {
            logger.LogInformation("Idempotency keys: {Deleted} expired key(s) deleted", deleted);
        }
        return tenants is null ? null : deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Idempotency.CleanupInterval, clock);
        do
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Idempotency key cleanup failed; retrying at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
