using System.Security.Claims;
using Dms.Modules.Approvals.Requests;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.DirectUpload;
using Dms.Modules.Documents.Download;
using Dms.Modules.Documents.Upload;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Dms.Ui;

/// <summary>
/// The browser UI: Razor Pages signed in with a cookie, plus a few JSON endpoints under <c>/ui/api</c> for the
/// upload script. Every page and endpoint calls the same handler methods as the REST API (see ADR 0007), so
/// rules, permission checks and audit records are the API's own.
/// </summary>
internal static class UiModule
{
    public const string Scheme = "DmsCookie";

    private static readonly string[] AdminPages = ["/Admin/Users", "/Admin/Groups", "/Admin/Workspaces", "/Admin/Trash", "/Admin/Outbox", "/Admin/Webhooks", "/Admin/Settings"];
    public const string CookieName = "dms.session";

    public static IServiceCollection AddUi(this IServiceCollection services)
    {
        services.AddAuthentication().AddCookie(Scheme, o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.LoginPath = "/login";
            o.LogoutPath = "/logout";
            o.AccessDeniedPath = "/denied";
            o.Events = new CookieAuthenticationEvents
            {
                OnValidatePrincipal = async context =>
                {
                    var check = context.HttpContext.RequestServices.GetRequiredService<IAccountCheck>();
                    if (await check.CheckAsync(context.HttpContext, context.Principal, requireSignIn: true) is not null)
                    {
                        context.RejectPrincipal();
                        await context.HttpContext.SignOutAsync(context.Scheme.Name);
                    }
                },
                // Script calls get a status, not an HTML sign-in page they cannot use.
                OnRedirectToLogin = c => Redirect(c, StatusCodes.Status401Unauthorized),
                OnRedirectToAccessDenied = c => Redirect(c, StatusCodes.Status403Forbidden),
            };
        });
        services.AddAuthorization(UiPolicies.Add);
        // Any node must read any other node's cookie and antiforgery token: the key ring lives in the shared
        // data directory unless Dms__Ui__KeysDirectory points elsewhere.
        services.AddDataProtection().SetApplicationName("dms");
        services.AddOptions<KeyManagementOptions>().Configure<IOptions<DmsOptions>, ILoggerFactory>((o, dms, loggers) =>
        {
            var dir = dms.Value.Ui.KeysDirectory is { Length: > 0 } configured ? configured : Path.Combine(dms.Value.DataDirectoryFullPath, "ui-keys");
            o.XmlRepository = new FileSystemXmlRepository(Directory.CreateDirectory(dir), loggers);
        });
        services.AddAntiforgery(o =>
        {
            o.HeaderName = "RequestVerificationToken";
            o.Cookie.Name = "dms.af";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddRazorPages(o =>
        {
            o.Conventions.AuthorizeFolder("/", UiPolicies.Signed);
            o.Conventions.AllowAnonymousToPage("/Login");
            o.Conventions.AllowAnonymousToPage("/Denied");
            // Error pages answer whoever reached an error, signed in or not.
            o.Conventions.AllowAnonymousToPage("/Error");
            // Unsubscribe links in mails work without signing in: their signed token names the user.
            o.Conventions.AllowAnonymousToPage("/Unsubscribe");
            // Page by page, not the /Admin folder: folder and page rules would both apply, and auditors (who are
            // not admins) could not open the audit page.
            foreach (var page in AdminPages)
            {
                o.Conventions.AuthorizePage(page, UiPolicies.Admin);
            }
            o.Conventions.AuthorizePage("/Admin/Audit", UiPolicies.Audit);
            // Sign-in attempts count against the same per-address limit as POST /api/v1/auth/login.
            o.Conventions.AddPageApplicationModelConvention("/Login", m => m.EndpointMetadata.Add(new EnableRateLimitingAttribute(RateLimits.Login)));
        }).AddMvcOptions(o => o.Filters.Add(new ExpiredFormFilter()));
        services.AddScoped<Chrome>();
        services.AddSingleton<IWebFrontEnd, UiFrontEnd>();
        return services;
    }

    public static WebApplication MapUi(this WebApplication app)
    {
        app.UseStaticFiles();
        app.MapRazorPages();
        // "/" is the home page (Pages/Index): signed-out visitors land on the sign-in page through its authorization.
        // Browsers and tools that ask for the classic icon get the page's SVG one.
        app.MapGet("/favicon.ico", () => Results.Redirect("/favicon.svg", permanent: true)).ExcludeFromDescription().AllowAnonymous();

        var ui = app.MapGroup("/ui").ExcludeFromDescription();
        // Downloads are GETs a link can make: authorised and audited by the API's download handler.
        ui.MapGet("/documents/{id}/content", DownloadEndpoint.Handle).RequireAuthorization(UiPolicies.Read);
        ui.MapGet("/documents/{id}/preview", Preview.Handle).RequireAuthorization(UiPolicies.Read);
        // A document's details as JSON (the upload area names the existing copy of a duplicate by its title).
        ui.MapGet("/documents/{id}", BrowseEndpoints.Get).RequireAuthorization(UiPolicies.Read);
        ui.MapGet("/documents/{id}/text", Modules.Documents.Text.TextEndpoints.Content).RequireAuthorization(UiPolicies.Read);
        // A replace request's proposed file, for the decider and the requester (same handler, checks and audit as the API).
        ui.MapGet("/approvals/{id}/content", Modules.Approvals.Queries.ApprovalContentEndpoint.Handle).RequireAuthorization(UiPolicies.Read);
        ui.MapGet("/audit/export", Modules.Audit.AuditEndpoints.Export).RequireAuthorization(UiPolicies.Audit);

        var api = ui.MapGroup("/api").AddEndpointFilter(ValidateAntiforgery).RequireAuthorization(UiPolicies.Write);
        api.MapPost("/uploads", UploadSessionEndpoints.Create).RequireRateLimiting(RateLimits.Uploads);
        api.MapPost("/uploads/{id}/complete", UploadSessionEndpoints.Complete);
        api.MapDelete("/uploads/{id}", UploadSessionEndpoints.Abort);
        api.MapPost("/documents", UploadDocumentEndpoint.Handle).RequireRateLimiting(RateLimits.Uploads);
        api.MapPost("/documents/{id}/replace-requests", RequestEndpoints.RequestReplace).RequireRateLimiting(RateLimits.Uploads);
        return app;
    }

    /// <summary>
    /// The UI's own Content-Security-Policy and X-Frame-Options, or null for the API, its reference and probes
    /// (which keep the platform's "nothing may load or frame this"). Pages load only their own files; a preview
    /// may be framed by a page of the same origin and runs nothing.
    /// </summary>
    public static (string Csp, string FrameOptions)? SecurityHeadersFor(PathString path, string storageOrigins)
    {
        // Routing ignores case, so must this: /API/v1/… is the API too.
        if (path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/openapi", StringComparison.OrdinalIgnoreCase) ||
            path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/swagger", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        if (path.StartsWithSegments("/ui/documents", StringComparison.OrdinalIgnoreCase))
        {
            return ("default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'", "SAMEORIGIN");
        }
        return (ContentSecurityPolicy + $"; connect-src 'self'{storageOrigins}", "SAMEORIGIN");
    }

    /// <remarks>
    /// <c>style-src-attr</c> admits exactly one inline style: the empty one (its hash), which styles nothing. htmx's settle step
    /// copies an element's <c>style</c> attribute across a swap, and an emptied one (<c>style=""</c>) was reported as a violation
    /// now and then in the browser scenario; any style with content is still refused.
    /// </remarks>
    public const string ContentSecurityPolicy =
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; " +
        "style-src-attr 'unsafe-hashes' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='; script-src 'self'; frame-src 'self'; object-src 'self'; " +
        "frame-ancestors 'self'; base-uri 'self'; form-action 'self'";

    /// <summary>
    /// Where the upload script may PUT bytes besides this origin: the S3 endpoint of presigned URLs (with
    /// virtual-host buckets, its subdomains). Without it the browser blocks direct uploads to S3.
    /// </summary>
    public static string StorageOrigins(StorageOptions storage)
    {
        if (!string.Equals(storage.Provider, "S3", StringComparison.OrdinalIgnoreCase))
        {
            return "";
        }
        if (!Uri.TryCreate(storage.S3.ServiceUrl, UriKind.Absolute, out var endpoint))
        {
            return " https://*.amazonaws.com";
        }
        var origin = endpoint.GetLeftPart(UriPartial.Authority);
        return storage.S3.ForcePathStyle ? $" {origin}" : $" {origin} {endpoint.Scheme}://*.{endpoint.Authority}";
    }

    /// <summary>The cookie's claims are the access token's (sub, tid, role, email), so <see cref="CurrentUser.From"/> reads both alike.</summary>
    public static ClaimsPrincipal Principal(IEnumerable<Claim> tokenClaims, string refreshToken)
    {
        var keep = tokenClaims.Where(c => c.Type is DmsClaims.Subject or DmsClaims.Tenant or DmsClaims.Role or DmsClaims.Email)
            .Select(c => new Claim(c.Type, c.Value)).ToList();
        // Kept (inside the encrypted cookie) so that signing out revokes this sign-in's refresh-token family.
        keep.Add(new Claim(DmsClaims.SessionRefreshToken, refreshToken));
        return new ClaimsPrincipal(new ClaimsIdentity(keep, Scheme, DmsClaims.Email, DmsClaims.Role));
    }


    private static Task Redirect(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        if (context.Request.Path.StartsWithSegments("/ui", StringComparison.OrdinalIgnoreCase) || context.Request.Headers.ContainsKey("HX-Request"))
        {
            context.Response.StatusCode = status;
            if (context.Request.Headers.ContainsKey("HX-Request") && status == StatusCodes.Status401Unauthorized)
            {
                context.Response.Headers["HX-Redirect"] = "/login";
            }
            return Task.CompletedTask;
        }
        context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    private static async ValueTask<object?> ValidateAntiforgery(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        // The token travels in a header only: reading a form here would consume a streamed upload's body.
        if (!http.Request.Headers.ContainsKey("RequestVerificationToken"))
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "ui.antiforgery", "The page is out of date; reload it and try again.");
        }
        try
        {
            await http.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "ui.antiforgery", "The page is out of date; reload it and try again.");
        }
        return await next(context);
    }
}

/// <summary>The API's role policies, evaluated against the UI cookie only (the API's own policies accept bearer tokens only).</summary>
internal static class UiPolicies
{
    public const string Signed = "ui.signed";
    public const string Read = "ui.read";
    public const string Write = "ui.write";
    public const string Admin = "ui.admin";
    public const string Audit = "ui.audit";

    public static void Add(Microsoft.AspNetCore.Authorization.AuthorizationOptions options)
    {
        options.AddPolicy(Signed, p => p.AddAuthenticationSchemes(UiModule.Scheme).RequireAuthenticatedUser());
        options.AddPolicy(Read, p => p.AddAuthenticationSchemes(UiModule.Scheme).RequireAuthenticatedUser().RequireRole(Roles.Admin, Roles.Member, Roles.Viewer));
        options.AddPolicy(Write, p => p.AddAuthenticationSchemes(UiModule.Scheme).RequireAuthenticatedUser().RequireRole(Roles.Admin, Roles.Member));
        options.AddPolicy(Admin, p => p.AddAuthenticationSchemes(UiModule.Scheme).RequireAuthenticatedUser().RequireRole(Roles.Admin));
        options.AddPolicy(Audit, p => p.AddAuthenticationSchemes(UiModule.Scheme).RequireAuthenticatedUser().RequireRole(Roles.Admin, Roles.Auditor));
    }
}
