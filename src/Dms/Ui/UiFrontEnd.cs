using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Microsoft.Extensions.Options;

namespace Dms.Ui;

/// <summary>The UI's part in Platform's pipeline: error pages for browser navigations, the pages' security headers.</summary>
internal sealed class UiFrontEnd(IOptions<DmsOptions> options) : IWebFrontEnd
{
    private readonly string _storageOrigins = UiModule.StorageOrigins(options.Value.Storage);

    public bool WantsPage(HttpContext context) => ErrorPages.WantsPage(context);

    public (string Csp, string FrameOptions)? SecurityHeadersFor(PathString path) => UiModule.SecurityHeadersFor(path, _storageOrigins);

    public void UseStatusCodePages(WebApplication app, Func<HttpContext, Task> apiProblem) => app.UseStatusCodePagesForApiAndUi(apiProblem);
}
