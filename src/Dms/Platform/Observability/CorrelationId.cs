using System.Diagnostics;

namespace Dms.Platform.Observability;

/// <summary>
/// Every request gets a correlation id: the caller's <c>X-Correlation-Id</c> when it is sane, else the
/// trace id. It is echoed in the response and attached to every log line of the request.
/// </summary>
internal static class CorrelationId
{
    public const string Header = "X-Correlation-Id";

    /// <summary>Where the request's correlation id is kept for code that records it (the audit trail).</summary>
    public const string ItemKey = "Dms.CorrelationId";

    public static IApplicationBuilder UseCorrelationId(this IApplicationBuilder app) =>
        app.Use(async (context, next) =>
        {
            var incoming = context.Request.Headers[Header].ToString();
            var id = IsSane(incoming) ? incoming : Activity.Current?.TraceId.ToString() ?? context.TraceIdentifier;
            context.Items[ItemKey] = id;
            // Set when the headers go out, so an error response that clears the response keeps it too.
            context.Response.OnStarting(() =>
            {
                context.Response.Headers[Header] = id;
                return Task.CompletedTask;
            });
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Dms.Http");
            using (logger.BeginScope(new Dictionary<string, object> { ["CorrelationId"] = id }))
            {
                await next(context);
            }
        });

    private static bool IsSane(string value) =>
        value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
