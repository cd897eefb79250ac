using System.Globalization;
using System.Text.Json;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Views;

/// <summary>The body of <c>POST /api/v1/views</c> and <c>PATCH /api/v1/views/{id}</c>, as the OpenAPI document describes it.</summary>
internal sealed record ViewBody(string? Name, Dictionary<string, string>? Query, string[]? Columns, bool? Shared, bool? Pinned);

/// <summary>Saved views (<c>/api/v1/views*</c>) and the home page's data (<c>/api/v1/home</c>): adapters over the view handlers.</summary>
internal static class ViewEndpoints
{
    public static IEndpointRouteBuilder MapSavedViews(this IEndpointRouteBuilder app)
    {
        var views = app.MapGroup("/api/v1/views").WithTags("Views").RequireAuthorization(Policies.ReadDocuments);
        views.MapPost("", Create).Accepts<ViewBody>("application/json").Produces<ViewResponse>(201).WithSummary("Save a view (list parameters, columns; private or shared)");
        views.MapGet("", List).Produces<ItemsResponse<ViewResponse>>(200).WithSummary("List your views and the tenant's shared ones");
        views.MapGet("/{id}", Get).Produces<ViewResponse>(200).WithSummary("Get a view");
        views.MapPatch("/{id}", Update).Accepts<ViewBody>("application/json").Produces<ViewResponse>(200).WithSummary("Change your view, or pin/unpin any view you see");
        views.MapDelete("/{id}", Delete).Produces(StatusCodes.Status204NoContent).WithSummary("Delete your view (admins: any shared view)");
        views.MapGet("/{id}/count", Count).Produces<ViewCountResponse>(200).WithSummary("Count the documents you can read that match a view (capped)");
        app.MapGet("/api/v1/home", Home).WithTags("Views").RequireAuthorization(Policies.ReadDocuments).Produces<HomeResponse>(200)
            .WithSummary("Your pinned views with their counts, and recently changed documents");
        return app;
    }

    private static async Task<IResult> Create(HttpContext http, JsonElement body, [FromServices] CreateViewHandler handler, CancellationToken ct)
    {
        var b = Body.Read(body);
        var view = await handler.HandleAsync(new CreateView(b.String("name"), b.Query(), b.Columns(), b.Bool("shared") ?? false, b.Bool("pinned") ?? false),
            CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/views/{view.Id}", view);
    }

    private static async Task<IResult> List(HttpContext http, [FromServices] ListViewsHandler handler, CancellationToken ct) =>
        Results.Ok(new ItemsResponse<ViewResponse>(await handler.HandleAsync(new ListViews(), CurrentUser.From(http.User), ct)));

    private static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetViewHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetView(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Update(HttpContext http, string id, JsonElement body, [FromServices] UpdateViewHandler handler, CancellationToken ct)
    {
        var viewId = RouteIds.Parse(id);
        var b = Body.Read(body);
        if (b.Has("name") && b.String("name") is null)
        {
            throw ApiProblem.Validation("name", "name cannot be null.");
        }
        return Results.Ok(await handler.HandleAsync(new UpdateView(viewId, b.String("name"), b.Query(), b.Columns(), b.Bool("shared"), b.Bool("pinned")),
            CurrentUser.From(http.User), ct));
    }

    private static async Task<IResult> Delete(HttpContext http, string id, [FromServices] DeleteViewHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new DeleteView(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }

    private static async Task<IResult> Count(HttpContext http, string id, [FromServices] CountViewHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new CountView(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Home(HttpContext http, [FromServices] GetHomeHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetHome(), CurrentUser.From(http.User), ct));

    /// <summary>A JSON body read by hand, so a value of the wrong kind is a 400 naming its field rather than a binder's guess.</summary>
    private readonly struct Body(JsonElement root)
    {
        public static Body Read(JsonElement body) =>
            body.ValueKind == JsonValueKind.Object ? new Body(body) : throw ApiProblem.Validation("body", "The body must be a JSON object.");

        public bool Has(string name) => root.TryGetProperty(name, out _);

        private JsonElement? Value(string name) =>
            root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        public string? String(string name) => Value(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } s => Text(s, name),
            _ => throw ApiProblem.Validation(name, $"{name} must be a string."),
        };

        public bool? Bool(string name) => Value(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            _ => throw ApiProblem.Validation(name, $"{name} must be true or false."),
        };

        /// <summary>The list parameters: an object whose values are strings (numbers and booleans are taken as the query string would spell them).</summary>
        public Dictionary<string, string?>? Query()
        {
            if (Value("query") is not { } query)
            {
                return null;
            }
            if (query.ValueKind != JsonValueKind.Object)
            {
                throw ApiProblem.Validation("query", "query must be an object of list parameters, e.g. {\"tag\": \"invoice\"}.");
            }
            var result = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var p in query.EnumerateObject())
            {
                result[p.Name] = p.Value.ValueKind switch
                {
                    JsonValueKind.String => Text(p.Value, p.Name),
                    JsonValueKind.Number => p.Value.GetRawText(),
                    JsonValueKind.True or JsonValueKind.False => p.Value.GetBoolean().ToString(CultureInfo.InvariantCulture).ToLowerInvariant(),
                    JsonValueKind.Null => null,
                    _ => throw ApiProblem.Validation(p.Name, $"{p.Name} must be a string, as in a query string."),
                };
            }
            return result;
        }

        public List<string?>? Columns()
        {
            if (Value("columns") is not { } columns)
            {
                return null;
            }
            if (columns.ValueKind != JsonValueKind.Array)
            {
                throw ApiProblem.Validation("columns", "columns must be an array of column names.");
            }
            return [.. columns.EnumerateArray().Select(c => c.ValueKind == JsonValueKind.String ? Text(c, "columns") : null)];
        }

        private static string Text(JsonElement value, string field)
        {
            try
            {
                return value.GetString()!;
            }
            catch (InvalidOperationException)
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_text", $"{field} contains characters that cannot be stored (such as an unpaired surrogate).");
            }
        }
    }
}
