using System.Globalization;
using System.Text.Json;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Documents.Bulk;

/// <summary>Bulk jobs: registration, routes and the adapters that turn JSON into commands.</summary>
internal static class BulkModule
{
    public static IServiceCollection AddBulkJobs(this IServiceCollection services, bool runBackgroundWork)
    {
        Platform.Database.DbEnums.Register<BulkJobStatus>();
        Platform.Database.DbEnums.Register<BulkOutcome>();
        services.AddSingleton<BulkActions>();
        services.AddSingleton<BulkJobQueries>();
        services.AddSingleton<BulkRunner>();
        services.TryAddEnumerable(ServiceDescriptor.Scoped<IBulkAction, AddTagsBulkAction>());
        services.TryAddEnumerable(ServiceDescriptor.Scoped<IBulkAction, RemoveTagsBulkAction>());
        services.TryAddEnumerable(ServiceDescriptor.Scoped<IBulkAction, ZipBulkAction>());
        if (runBackgroundWork)
        {
            services.AddHostedService<BulkWorker>();
        }
        return services;
    }

    public static IEndpointRouteBuilder MapBulkJobs(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/v1/bulk-jobs").WithTags("Bulk jobs").RequireAuthorization(Policies.ReadDocuments);
        jobs.MapPost("", BulkEndpoints.Create).Produces<BulkJobCreated>(202).WithSummary("Start a bulk job over a selection or a filter (up to 10,000 documents)");
        jobs.MapGet("", BulkEndpoints.List).Produces<ItemsResponse<BulkJobResponse>>(200).WithSummary("List your bulk jobs (admins: everyone's)");
        jobs.MapGet("/{id}", BulkEndpoints.Get).Produces<BulkJobResponse>(200).WithSummary("Get a bulk job's progress and per-document results");
        jobs.MapPost("/{id}/cancel", BulkEndpoints.Cancel).Produces<BulkJobResponse>(200).WithSummary("Cancel a bulk job");
        jobs.MapGet("/{id}/content", BulkEndpoints.Content).Produces<byte[]>(200, "application/zip").WithSummary("Download a finished zip job's documents as one ZIP (streamed)");
        return app;
    }
}

internal static class BulkEndpoints
{
    private static readonly HashSet<string> Fields = ["action", "documentIds", "filter", "params"];

    public static async Task<IResult> Create(HttpContext http, JsonElement body, [FromServices] CreateBulkJobHandler handler, CancellationToken ct)
    {
        var created = await handler.HandleAsync(Parse(body), CurrentUser.From(http.User), ct);
        return Results.Accepted($"/api/v1/bulk-jobs/{created.Id}", created);
    }

    public static async Task<IResult> Get(HttpContext http, string id, int? after, int? limit, [FromServices] GetBulkJobHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetBulkJob(RouteIds.Parse(id), after, limit), CurrentUser.From(http.User), ct));

    public static async Task<IResult> List(HttpContext http, [FromServices] ListBulkJobsHandler handler, CancellationToken ct) =>
        Results.Ok(new ItemsResponse<BulkJobResponse>(await handler.HandleAsync(new ListBulkJobs(), CurrentUser.From(http.User), ct)));

    public static async Task<IResult> Cancel(HttpContext http, string id, [FromServices] CancelBulkJobHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new CancelBulkJob(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    /// <summary>
    /// The ZIP goes straight into the response body as it is built (chunked: its length is not known beforehand); the
    /// checks happen before the first byte, so a refusal is still a problem+json answer.
    /// </summary>
    public static async Task Content(HttpContext http, string id, [FromServices] ZipContent handler, TimeProvider clock, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var jobId = RouteIds.Parse(id);
        var documents = await handler.HandleAsync(new ZipJobContent(jobId), me, ct);
        http.Response.ContentType = "application/zip";
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"documents-{clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture)}.zip\"";
        http.Response.Headers.CacheControl = "no-store";
        await http.Response.StartAsync(ct);
        await handler.WriteAsync(http.Response.Body, me, documents, ct);
    }

    internal static CreateBulkJob Parse(JsonElement body)
    {
        var v = new Validator();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ApiProblem.Validation("body", "The body must be a JSON object with action, documentIds or filter, and params.");
        }
        string? action = null;
        List<string>? ids = null;
        List<KeyValuePair<string, string?>>? filter = null;
        JsonElement parameters = default;
        foreach (var property in body.EnumerateObject())
        {
            v.Require(Fields.Contains(property.Name), property.Name, $"'{property.Name}' is not a field of a bulk job (action, documentIds, filter, params).");
            var value = property.Value;
            switch (property.Name)
            {
                case "action":
                    v.Require(value.ValueKind == JsonValueKind.String, "action", "action must be a string.");
                    action = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                    break;
                case "documentIds":
                    var isArray = value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String);
                    v.Require(isArray, "documentIds", "documentIds must be an array of document ids.");
                    ids = isArray ? value.EnumerateArray().Select(e => e.GetString()!).ToList() : null;
                    break;
                case "filter":
                    v.Require(value.ValueKind == JsonValueKind.Object, "filter", "filter must be an object of list parameters (q, workspaceId, tag…).");
                    if (value.ValueKind == JsonValueKind.Object)
                    {
                        filter = [];
                        foreach (var p in value.EnumerateObject())
                        {
                            var scalar = p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False;
                            v.Require(scalar, $"filter.{p.Name}", $"filter.{p.Name} must be a string, number or boolean.");
                            filter.Add(new(p.Name, p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText()));
                        }
                    }
                    break;
                case "params":
                    parameters = value.Clone();
                    break;
            }
        }
        v.ThrowIfInvalid();
        return new CreateBulkJob(action, ids, filter, parameters);
    }
}
