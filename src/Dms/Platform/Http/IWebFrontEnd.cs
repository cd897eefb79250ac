namespace Dms.Platform.Http;

/// <summary>
/// The browser UI's say in the shared pipeline: which requests get an HTML error page instead of problem+json, its
/// own security headers, and how its status-code pages are rendered. The UI registers it; Platform never names the UI,
/// and without one (an API-only composition) every path answers problem+json.
/// </summary>
internal interface IWebFrontEnd
{
    /// <summary>A browser navigation on a UI path: its errors are shown as a page.</summary>
    bool WantsPage(HttpContext context);

    /// <summary>The UI's Content-Security-Policy and X-Frame-Options for <paramref name="path"/>, or null where the API's apply.</summary>
    (string Csp, string FrameOptions)? SecurityHeadersFor(PathString path);

    /// <summary>Installs status-code pages: the UI's error page for UI paths, <paramref name="apiProblem"/> for everything else.</summary>
    void UseStatusCodePages(WebApplication app, Func<HttpContext, Task> apiProblem);
}
