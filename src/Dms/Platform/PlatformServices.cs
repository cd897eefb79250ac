using System.Text.Json.Serialization;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Http.Idempotency;
using Dms.Platform.Observability;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Platform;

/// <summary>Cross-cutting services and middleware; no business rules live here.</summary>
internal static class PlatformServices
{
    /// <summary>The JWT access-token scheme; "Bearer" is the policy scheme that picks it or the personal-token one.</summary>
    private const string JwtScheme = "Jwt";

    /// <param name="runBackgroundWork">Worker roles run the outbox dispatcher (modules add their own background services).</param>
    public static WebApplicationBuilder AddPlatform(this WebApplicationBuilder builder, bool runBackgroundWork)
    {
        var services = builder.Services;
        services.Configure<DmsOptions>(builder.Configuration.GetSection(DmsOptions.Section));
        services.AddSingleton(TimeProvider.System);
        var security = builder.Configuration.GetSection(DmsOptions.Section).Get<DmsOptions>()?.Security ?? new SecurityOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Small by default: only the upload endpoints accept large bodies, and they say so per request.
            kestrel.Limits.MaxRequestBodySize = security.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.MaxRequestLineSize = 16 * 1024;
        });
        DefaultTypeMap.MatchNamesWithUnderscores = true;

        builder.Logging.ClearProviders();
        // The hosting diagnostics log every request line with its query string, which for signed storage
        // URLs is a bearer credential: keep them to warnings and errors.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        // Routing, endpoint execution and HttpClient write a line or two per request at Information: our own request log
        // (Dms__Logs__Requests) says what matters in one line, named by route, never by URL.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        builder.Logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.UseUtcTimestamp = true;
        });

        services.AddSingleton<DatabaseConnections>();
        services.AddSingleton<DatabaseStartup>();
        services.AddHostedService<EmbeddedPostgresWatchdog>();
        services.AddSingleton(sp =>
        {
            var source = new NpgsqlDataSourceBuilder(sp.GetRequiredService<DatabaseConnections>().App) { Name = "dms" };
            source.ConnectionStringBuilder.Timeout = Math.Max(1, (int)Math.Ceiling(sp.GetRequiredService<IOptions<DmsOptions>>().Value.Database.ConnectTimeout.TotalSeconds));
            return source.Build();
        });
        services.AddSingleton(sp =>
        {
            var connections = sp.GetRequiredService<DatabaseConnections>();
            if (connections.Direct == connections.App)
            {
                return new DirectDataSource(sp.GetRequiredService<NpgsqlDataSource>(), owned: false);
            }
            var source = new NpgsqlDataSourceBuilder(connections.Direct) { Name = "dms-direct" };
            source.ConnectionStringBuilder.Timeout = Math.Max(1, (int)Math.Ceiling(sp.GetRequiredService<IOptions<DmsOptions>>().Value.Database.ConnectTimeout.TotalSeconds));
            return new DirectDataSource(source.Build(), owned: true);
        });
        services.AddSingleton<TenantDatabases>();
        services.AddSingleton<ReplicaDatabase>();
        services.AddSingleton<ReplicaConsistency>();
        services.AddHostedService<ReplicaMonitor>();
        services.AddSingleton<Caching.INodeCache>(sp => sp.GetRequiredService<TenantDatabases>());
        services.AddSingleton<TenantMover>();
        services.AddSingleton<ReadRouting>();
        services.AddSingleton<Db>();
        // Every role: an api node serves from the caches, a worker node's handlers may read them too (ADR 0033).
        services.AddSingleton<Caching.CacheListener>();
        services.AddHostedService(sp => sp.GetRequiredService<Caching.CacheListener>());
        services.AddHttpContextAccessor();
        services.AddSingleton<Testing.FaultInjection>();
        services.AddSingleton<Processes.ExternalTools>();
        DbEnums.Register<Outbox.OutboxStatus>();
        services.AddHandlersFrom("Dms.Platform");
        if (runBackgroundWork)
        {
            foreach (var lane in Enum.GetValues<Outbox.OutboxLane>())
            {
                services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<Outbox.OutboxDispatcher>(sp, lane));
            }
        }
        services.AddSingleton<SignedBlobUrls>();
        services.AddSingleton<IBlobStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<DmsOptions>>().Value;
            return options.Storage.Provider.ToUpperInvariant() switch
            {
                "FILESYSTEM" => new InstrumentedBlobStore(new FileSystemBlobStore(options.Storage.FileSystem.Root ?? Path.Combine(options.DataDirectoryFullPath, "blobs"),
                    sp.GetRequiredService<SignedBlobUrls>()), "FileSystem"),
                "S3" => new InstrumentedBlobStore(new S3BlobStore(options.Storage.S3, sp.GetRequiredService<TimeProvider>()), "S3"),
                _ => throw new StartupException($"Dms__Storage__Provider '{options.Storage.Provider}' is not supported; use FileSystem or S3."),
            };
        });
        services.AddIdempotency(runBackgroundWork);
        services.AddSingleton<SigningKey>();
        services.AddSingleton<TokenService>();
        services.AddAuthentication("Bearer")
            .AddPolicyScheme("Bearer", "JWT or a token scheme registered by prefix", o => o.ForwardDefaultSelector = http =>
            {
                var authorization = http.Request.Headers.Authorization.ToString();
                foreach (var (prefix, scheme) in http.RequestServices.GetRequiredService<IOptions<BearerTokenSchemes>>().Value.ByPrefix)
                {
                    if (authorization.StartsWith($"Bearer {prefix}", StringComparison.Ordinal))
                    {
                        return scheme;
                    }
                }
                return JwtScheme;
            })
            .AddJwtBearer(JwtScheme, _ => { });
        services.AddOptions<JwtBearerOptions>(JwtScheme).Configure<TokenService>((o, tokens) =>
        {
            o.MapInboundClaims = false;
            o.TokenValidationParameters = tokens.ValidationParameters();
            // Every request re-reads the account: a disabled user is out at once and a role change applies
            // immediately, on every node, whatever the token still says.
            o.Events = new JwtBearerEvents
            {
                OnTokenValidated = async context =>
                {
                    if (await context.HttpContext.RequestServices.GetRequiredService<IAccountCheck>().CheckAsync(context.HttpContext, context.Principal, requireSignIn: false) is { } failure)
                    {
                        context.Fail(failure);
                    }
                },
            };
        });
        services.AddDmsRateLimits();
        services.AddConnectionHygiene();
        services.AddCors();
        services.AddOptions<Microsoft.AspNetCore.Cors.Infrastructure.CorsOptions>().Configure<IOptions<DmsOptions>>((cors, dms) =>
        {
            // No origins configured: no policy, so no CORS headers and browsers keep the same-origin rule.
            var origins = dms.Value.Security.AllowedOrigins.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (origins.Length > 0)
            {
                cors.AddDefaultPolicy(p => p.WithOrigins(origins).AllowAnyHeader().AllowAnyMethod().WithExposedHeaders("ETag", "Location", "X-Correlation-Id", IdempotencyKeys.ReplayedHeader, ReplicaConsistency.Header));
            }
        });
        services.AddAuthorization(Policies.Add);

        services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        });
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails();
        services.AddOpenApi(OpenApiDocumentation.Configure);
        builder.AddTelemetry(runBackgroundWork);
        services.AddHealthChecks()
            .AddCheck<DatabaseHealthCheck>("database", tags: ["ready"])
            .AddCheck<StorageHealthCheck>("storage", tags: ["ready"]);
        return builder;
    }

    public static WebApplication UsePlatform(this WebApplication app)
    {
        // Before everything: /metrics is judged on the socket's peer and answers without authentication.
        app.UseMetricsEndpoint();
        app.UseRequestLogs();
        // First: later middleware (rate limits by address, cookies' Secure flag) sees the client, not the proxy.
        app.UseConnectionHygiene();
        app.UseCorrelationId();
        var frontEnd = app.Services.GetService<IWebFrontEnd>();
        app.Use(async (context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                var headers = context.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.XFrameOptions = "DENY";
                if (frontEnd?.SecurityHeadersFor(context.Request.Path) is { } ui)
                {
                    // The web UI's pages load their own scripts and styles (and nothing else).
                    headers.ContentSecurityPolicy = ui.Csp;
                    headers.XFrameOptions = ui.FrameOptions;
                }
                // The API serves data, never pages to render: nothing may load or frame it. (The browsable API
                // reference under /swagger needs its own scripts and styles.)
                else if (!context.Request.Path.StartsWithSegments("/swagger", StringComparison.OrdinalIgnoreCase))
                {
                    headers.ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
                }
                return Task.CompletedTask;
            });
            await next(context);
        });
        // Empty error responses get a problem+json body, or on the web UI's paths its HTML error page.
        if (frontEnd is not null)
        {
            frontEnd.UseStatusCodePages(app, ProblemResponses.WriteStatusCodeProblemAsync);
        }
        else
        {
            app.UseStatusCodePages(c => ProblemResponses.WriteStatusCodeProblemAsync(c.HttpContext));
        }
        app.UseProblemResponses();
        app.UseCors();
        app.UseAuthentication();
        app.UseConsistencyTokens();
        app.Use(async (context, next) =>
        {
            // A read-only personal token may only read.
            if (context.User.HasClaim(DmsClaims.Scope, TokenScopes.Read) &&
                !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
            {
                await ProblemResponses.WriteAsync(context, StatusCodes.Status403Forbidden, "auth.token_scope",
                    "This personal token may only read.", null, null);
                return;
            }
            // A reset (or generated first) password must be replaced first: the API says so with a stable code,
            // the web UI sends the user to its change-password page. Reading who one is and signing out stay open.
            if (context.User.HasClaim(DmsClaims.MustChangePassword, "true") && !PasswordChangeAllowed(context.Request.Path))
            {
                if (context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
                {
                    await ProblemResponses.WriteAsync(context, StatusCodes.Status403Forbidden, "auth.password_change_required",
                        "Your password was reset: change it (POST /api/v1/me/password) before doing anything else.", null, null);
                }
                else
                {
                    context.Response.Redirect("/account/password?required=true");
                }
                return;
            }
            await next(context);
        });
        var writeGate = app.Services.GetService<IWriteGate>();
        if (writeGate is not null)
        {
            app.Use(async (context, next) =>
            {
                if (!(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
                {
                    await writeGate.CheckAsync(context);
                }
                await next(context);
            });
        }
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseIdempotencyKeys();
        return app;
    }

    private static bool PasswordChangeAllowed(PathString path) =>
        path.Equals("/api/v1/me", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/api/v1/me/password", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/api/v1/auth", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/account/password", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/logout", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/css", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/js", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/lib", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/favicon.svg", StringComparison.OrdinalIgnoreCase) ||
        path.StartsWithSegments("/favicon.ico", StringComparison.OrdinalIgnoreCase);

    public static WebApplication MapPlatform(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.UseSwaggerUI(o =>
        {
            o.SwaggerEndpoint("/openapi/v1.json", "DMS Enterprise API v1");
            o.DocumentTitle = "DMS Enterprise API";
            o.RoutePrefix = "swagger";
        });
        app.MapSignedObjects();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteHealth });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteHealth });
        return app;
    }

    private static Task WriteHealth(HttpContext context, HealthReport report) =>
        context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description }),
        });
}
