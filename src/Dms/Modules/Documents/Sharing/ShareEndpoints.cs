using System.Net;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Sharing;

internal sealed record CreateShareBody(DateTimeOffset? ExpiresAt, string? Password, int? MaxDownloads, int? Version);

internal sealed record ShareSettingsBody(bool? Enabled, int? MaxDays);

/// <summary>Share links: the members' API, the admins' settings, and the public download (the public page is Pages/Share).</summary>
internal static class ShareEndpoints
{
    public const string PublicPrefix = "/s";

    public static IServiceCollection AddSharing(this IServiceCollection services)
    {
        services.AddSingleton<ShareRateLimiter>();
        services.AddSingleton<PublicShares>();
        services.AddHttpContextAccessor();
        services.Configure<RateLimiterOptions>(o => o.AddPolicy<string, ShareAddressLimit>(ShareAddressLimit.Name));
        return services;
    }

    public static IEndpointRouteBuilder MapSharing(this IEndpointRouteBuilder app)
    {
        var documents = app.MapGroup("/api/v1/documents").WithTags("Documents");
        documents.MapPost("/{id}/shares", Create).Produces<CreatedShareResponse>(201)
            .WithSummary("Make a public link to one version of a document you can read (expiry required; optional password and download limit)")
            .RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/shares", List).Produces<ItemsResponse<ShareResponse>>(200).WithSummary("List a document's share links").RequireAuthorization(Policies.ReadDocuments);
        app.MapDelete("/api/v1/shares/{id}", Revoke).Produces(StatusCodes.Status204NoContent).WithTags("Documents")
            .WithSummary("Revoke a share link (its creator or an admin)").RequireAuthorization(Policies.ReadDocuments);
        var admin = app.MapGroup("/api/v1/admin").WithTags("Documents").RequireAuthorization(Policies.Admin);
        admin.MapGet("/share-settings", GetSettings).Produces<ShareSettingsResponse>(200).WithSummary("Get the tenant's share-link settings (admins)");
        admin.MapPut("/share-settings", PutSettings).Produces<ShareSettingsResponse>(200).WithSummary("Turn share links on or off and set their longest life (admins)");

        var open = app.MapGroup(PublicPrefix).WithTags("Documents").AllowAnonymous().RequireRateLimiting(ShareAddressLimit.Name).DisableAntiforgery();
        open.MapGet("/{token}/download", Download).Produces<byte[]>(200, "application/octet-stream").WithSummary("Download a shared file (public; no password)");
        open.MapPost("/{token}/download", Download).Produces<byte[]>(200, "application/octet-stream").WithSummary("Download a password-protected shared file (public; form field password)");
        return app;
    }

    private static async Task<IResult> Create(HttpContext http, string id, CreateShareBody? body, [FromServices] CreateShareHandler handler,
        IOptions<DmsOptions> options, CancellationToken ct)
    {
        var created = await handler.HandleAsync(new CreateShare(RouteIds.Parse(id), body?.ExpiresAt, body?.Password, body?.MaxDownloads, body?.Version),
            CurrentUser.From(http.User), ct);
        var url = new Uri(ApiBase.From(http, options.Value), $"s/{created.Token}").ToString();
        http.Response.Headers.CacheControl = "no-store";
        return Results.Created($"/api/v1/documents/{created.Share.DocumentId}/shares", new CreatedShareResponse(created.Share.Id, url, created.Share));
    }

    private static async Task<IResult> List(HttpContext http, string id, [FromServices] ListSharesHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ListShares(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Revoke(HttpContext http, string id, [FromServices] RevokeShareHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new RevokeShare(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }

    private static async Task<IResult> GetSettings(HttpContext http, [FromServices] GetShareSettingsHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetShareSettings(), CurrentUser.From(http.User), ct));

    private static async Task<IResult> PutSettings(HttpContext http, ShareSettingsBody body, [FromServices] ChangeShareSettingsHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ChangeShareSettings(body.Enabled, body.MaxDays), CurrentUser.From(http.User), ct));

    /// <summary>
    /// Streams the file through the API (never a redirect to a signed storage URL: that URL would outlive the count and
    /// could be fetched again past the download limit).
    /// </summary>
    private static async Task<IResult> Download(HttpContext http, string token, [FromServices] PublicShares shares, IBlobStore blobs,
        IOptions<DmsOptions> options, TimeProvider clock, CancellationToken ct)
    {
        PublicShares.NoTraceHeaders(http.Response);
        string? password = null;
        if (HttpMethods.IsPost(http.Request.Method) && http.Request.HasFormContentType)
        {
            password = (await http.Request.ReadFormAsync(ct))["password"].ToString();
        }
        try
        {
            var file = await shares.DownloadAsync(token, password, ct);
            return await BlobResponses.DownloadAsync(http, blobs, options.Value, clock, file.BlobKey, file.Size, file.Info, file.CreatedAt, redirect: false, ct);
        }
        catch (ApiProblem problem) when (!http.Response.HasStarted)
        {
            foreach (var (name, value) in problem.Headers ?? new Dictionary<string, string>())
            {
                http.Response.Headers[name] = value;
            }
            if (!http.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
            {
                await ProblemResponses.WriteAsync(http, problem.Status, problem.Code, problem.Title, problem.Detail, problem.Errors, problem.Headers);
                return Results.Empty;
            }
            // A browser's form post: a plain page in the link's own words (the UI's error page talks about signing in).
            var back = problem.Status == StatusCodes.Status401Unauthorized ? $"<p><a class=\"btn\" href=\"{PublicPrefix}/{WebUtility.HtmlEncode(token)}\">Try again</a></p>" : "";
            return Results.Content($"""
                <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
                <meta name="robots" content="noindex"><title>Shared file</title><link rel="stylesheet" href="/css/site.css"></head>
                <body class="bare"><main class="card narrow" data-testid="share-error" data-code="{problem.Code}"><h1>{WebUtility.HtmlEncode(problem.Title)}</h1>{back}</main></body></html>
                """, "text/html; charset=utf-8", null, problem.Status);
        }
    }

}
