using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Platform.Http;

/// <summary>
/// Turns every failure into problem+json: our own <see cref="ApiProblem"/>s, the framework's bad-request
/// exceptions (malformed JSON, wrong content type, body too large) and empty error responses from
/// routing and authentication. Anything unexpected is a 500 with a trace id and no internals.
/// </summary>
internal static class ProblemResponses
{
    /// <summary>The problem an uncaught handler error on a UI path carried, for the UI's error page to show in plain words.</summary>
    public const string PageProblemKey = "Dms.PageProblem";

    private static bool WantsPage(HttpContext context) => context.RequestServices.GetService<IWebFrontEnd>()?.WantsPage(context) == true;

    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (ApiProblem problem) when (!context.Response.HasStarted && WantsPage(context))
            {
                // A browser navigated here (a download link, a page): the status code page shows the error page instead.
                context.Response.Clear();
                context.Response.StatusCode = problem.Status;
                foreach (var (name, value) in problem.Headers ?? new Dictionary<string, string>())
                {
                    context.Response.Headers[name] = value;
                }
                context.Items[PageProblemKey] = problem;
            }
            catch (ApiProblem problem) when (!context.Response.HasStarted)
            {
                await WriteAsync(context, problem.Status, problem.Code, problem.Title, problem.Detail, problem.Errors, problem.Headers, extensions: problem.Extensions);
            }
            catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
            {
                var (code, title) = ex.StatusCode switch
                {
                    StatusCodes.Status413PayloadTooLarge => ("request.too_large", "The request body is too large."),
                    StatusCodes.Status415UnsupportedMediaType => ("request.unsupported_media_type", "This endpoint expects a different Content-Type (application/json unless the API guide says otherwise)."),
                    _ => ("request.malformed", "The request could not be read."),
                };
                var detail = ex.InnerException is JsonException json
                    ? $"The JSON body is malformed or has a value of the wrong type{(json.Path is { Length: > 0 } p ? $" at {p}" : "")}."
                    : ex.StatusCode == StatusCodes.Status400BadRequest ? BadRequestDetail(ex.Message) : null;
                await WriteAsync(context, ex.StatusCode, code, title, detail, null);
            }
            catch (Exception ex) when (!context.Response.HasStarted &&
                (ex is Npgsql.PostgresException { SqlState: "22021" or "22P05" } || ex is System.Text.EncoderFallbackException || ex.InnerException is System.Text.EncoderFallbackException))
            {
                // Text PostgreSQL cannot store (a NUL byte) that slipped past field validation.
                await WriteAsync(context, StatusCodes.Status400BadRequest, "request.invalid_text",
                    "The request contains characters that cannot be stored (such as NUL or an unpaired surrogate).", null, null);
            }
            catch (Dms.Platform.Storage.BlobStoreUnavailableException ex) when (!context.Response.HasStarted)
            {
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Dms.Storage").LogError(ex, "Storage unavailable");
                await WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "storage.unavailable",
                    "File storage is unavailable right now; try again shortly.", null, null, new Dictionary<string, string> { ["Retry-After"] = "30" });
            }
            catch (Exception ex) when (!context.Response.HasStarted && Database.DatabaseWait.IsUnavailable(ex))
            {
                // The database is away (restarting, unreachable, its pool exhausted by a stall): say so and when to retry,
                // never a 500. Nothing was committed: the request's transaction never reached its commit.
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Dms.Database").LogWarning(ex, "Database unavailable");
                await WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "database.unavailable",
                    "The database is unavailable right now; try again shortly.", null, null, new Dictionary<string, string> { ["Retry-After"] = "5" });
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away; there is nobody to answer.
            }
            catch (Exception ex) when (!context.Response.HasStarted)
            {
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Dms.Errors")
                    .LogError(ex, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
                if (WantsPage(context))
                {
                    // An empty 500: the status code page renders the UI's error page (trace id, no exception text).
                    context.Response.Clear();
                    context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    return;
                }
                await WriteAsync(context, StatusCodes.Status500InternalServerError, "server.error",
                    "An unexpected error occurred. Quote the trace id when reporting it.", null, null);
            }
        });
        return app;
    }

    /// <summary>Empty 4xx responses (no route, no token, wrong method) get a problem body too.</summary>
    public static async Task WriteStatusCodeProblemAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var (code, title) = status switch
        {
            StatusCodes.Status401Unauthorized => ("auth.unauthenticated", "Authentication is required: send a valid Bearer access token."),
            StatusCodes.Status403Forbidden => ("auth.forbidden", "Your role does not allow this action."),
            StatusCodes.Status404NotFound => ("route.not_found", "There is no such endpoint."),
            StatusCodes.Status405MethodNotAllowed => ("route.method_not_allowed", "This endpoint does not accept that HTTP method."),
            StatusCodes.Status413PayloadTooLarge => ("request.too_large", "The request body is too large."),
            _ => ($"http.{status}", ReasonPhrase(status)),
        };
        // Nothing was written yet, so the headers are the endpoint's own (WWW-Authenticate, a cookie being
        // removed, htmx's HX-Redirect to the sign-in page): keep them.
        await WriteAsync(context, status, code, title, null, null, keepHeaders: true);
    }

    internal static async Task WriteAsync(HttpContext context, int status, string code, string title, string? detail,
        IDictionary<string, string[]>? errors, IDictionary<string, string>? headers = null, bool keepHeaders = false,
        IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails
        {
            Status = status,
            Title = title,
            Detail = detail,
            Type = $"https://dms.example/problems/{code}",
            Instance = context.Request.Path,
        };
        problem.Extensions["code"] = code;
        problem.Extensions["traceId"] = Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier;
        if (errors is not null)
        {
            problem.Extensions["errors"] = errors;
        }
        foreach (var (name, value) in extensions ?? new Dictionary<string, object?>())
        {
            problem.Extensions[name] = value;
        }
        if (!keepHeaders)
        {
            context.Response.Clear();
        }
        context.Response.ContentLength = null;
        context.Response.StatusCode = status;
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }
        await context.Response.WriteAsJsonAsync(problem, (JsonSerializerOptions?)null, "application/problem+json");
    }

    private static string BadRequestDetail(string message) =>
        // Framework messages name parameters and the expected shape; they carry no server internals.
        message.Length > 300 ? message[..300] : message;

    private static string ReasonPhrase(int status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "Error";
}
