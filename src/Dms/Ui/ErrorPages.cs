using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc.Core.Infrastructure;
using Microsoft.AspNetCore.Mvc.Filters;
using Microsoft.Extensions.Options;

namespace Dms.Ui;

/// <summary>
/// HTML error pages for what a browser navigates to (pages, downloads): an unknown URL, an unexpected error, an
/// expired form. The API, its reference, the probes and the upload script's <c>/ui/api</c> keep problem+json.
/// Empty error responses are re-executed as <c>/error/{status}</c> through routing, as
/// <c>UseStatusCodePagesWithReExecute</c> does, but only for UI paths.
/// </summary>
internal static class ErrorPages
{
    /// <summary>Set when a page's antiforgery check failed: the 400 is an expired form, not a bad request.</summary>
    public const string ExpiredFormKey = "Dms.Ui.ExpiredForm";

    // WebApplication keeps its endpoint route builder here; a branch needs it to route again (as the framework's re-execute does).
    private const string GlobalRouteBuilderKey = "__GlobalEndpointRouteBuilder";


    public static bool IsUiPath(PathString path) =>
        !(path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/openapi", StringComparison.OrdinalIgnoreCase) ||
          path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/swagger", StringComparison.OrdinalIgnoreCase) ||
          path.StartsWithSegments("/ui/api", StringComparison.OrdinalIgnoreCase));

    /// <summary>A browser navigation on a UI path (htmx swaps and scripts read the problem+json instead).</summary>
    public static bool WantsPage(HttpContext context) => IsUiPath(context.Request.Path) && !context.Request.Headers.ContainsKey("HX-Request");

    /// <summary>
    /// Status code pages: problem+json as before for API paths; for UI paths the error page, rendered by routing the
    /// request again to <c>/error/{status}</c> as a GET (so a failed POST does not meet the page's antiforgery check).
    /// </summary>
    public static WebApplication UseStatusCodePagesForApiAndUi(this WebApplication app, Func<HttpContext, Task> apiProblem)
    {
        var routeBuilder = ((IApplicationBuilder)app).Properties.TryGetValue(GlobalRouteBuilderKey, out var rb) ? rb : null;
        ((IApplicationBuilder)app).Use(next =>
        {
            var branch = ((IApplicationBuilder)app).New();
            if (routeBuilder is not null)
            {
                branch.Properties[GlobalRouteBuilderKey] = routeBuilder;
            }
            branch.UseRouting();
            branch.Run(next);
            var rerouted = branch.Build();
            var options = Options.Create(new StatusCodePagesOptions
            {
                HandleAsync = c => WantsPage(c.HttpContext)
                    ? ReExecuteAsync(c.HttpContext, rerouted)
                    : apiProblem(c.HttpContext),
            });
            return new StatusCodePagesMiddleware(next, options).Invoke;
        });
        return app;
    }

    private static async Task ReExecuteAsync(HttpContext context, RequestDelegate rerouted)
    {
        var status = context.Response.StatusCode;
        var request = context.Request;
        var (path, query, method) = (request.Path, request.QueryString, request.Method);
        context.Features.Set<IStatusCodeReExecuteFeature>(new StatusCodeReExecuteFeature
        {
            OriginalPath = path.Value ?? "",
            OriginalPathBase = request.PathBase.Value ?? "",
            OriginalQueryString = query.HasValue ? query.Value : null,
        });
        context.SetEndpoint(null);
        context.Features.Get<IRouteValuesFeature>()?.RouteValues?.Clear();
        request.Path = $"/error/{status}";
        request.QueryString = QueryString.Empty;
        request.Method = HttpMethods.Get;
        try
        {
            await rerouted(context);
        }
        finally
        {
            request.Path = path;
            request.QueryString = query;
            request.Method = method;
            context.Features.Set<IStatusCodeReExecuteFeature>(null);
        }
    }
}

/// <summary>Marks a page's failed antiforgery check so that its bare 400 becomes the "form expired" page.</summary>
internal sealed class ExpiredFormFilter : IAlwaysRunResultFilter
{
    public void OnResultExecuting(ResultExecutingContext context)
    {
        if (context.Result is IAntiforgeryValidationFailedResult)
        {
            context.HttpContext.Items[ErrorPages.ExpiredFormKey] = true;
        }
    }

    public void OnResultExecuted(ResultExecutedContext context)
    {
    }
}
