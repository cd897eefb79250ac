using System.Text.Json;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Types;

/// <summary>The body of <c>POST</c>/<c>PATCH /api/v1/document-types</c> (raw JSON, so a wrong type is a named 400, not a binder error).</summary>
internal sealed record DocumentTypeBody(JsonElement? Name, JsonElement? Fields);

/// <summary><c>/api/v1/document-types</c>: admins write, everyone who reads documents reads.</summary>
internal static class DocumentTypeEndpoints
{
    public static IEndpointRouteBuilder MapDocumentTypes(this IEndpointRouteBuilder app)
    {
        var types = app.MapGroup("/api/v1/document-types").WithTags("Document types");
        types.MapGet("", List).Produces<ItemsResponse<DocumentType>>(200).WithSummary("List the tenant's document types").RequireAuthorization(Policies.ReadDocuments);
        types.MapGet("/{id}", Get).Produces<DocumentType>(200).WithSummary("Get a document type").RequireAuthorization(Policies.ReadDocuments);
        types.MapPost("", Create).Produces<DocumentType>(201).WithSummary("Create a document type with its fields (admins)").RequireAuthorization(Policies.Admin);
        types.MapPatch("/{id}", Update).Produces<DocumentType>(200).WithSummary("Rename a document type or replace its fields (admins)").RequireAuthorization(Policies.Admin);
        types.MapDelete("/{id}", Delete).Produces(StatusCodes.Status204NoContent).WithSummary("Delete an unused document type (admins)").RequireAuthorization(Policies.Admin);
        return app;
    }

    private static async Task<IResult> List(HttpContext http, [FromServices] ListDocumentTypesHandler handler, CancellationToken ct) =>
        Results.Ok(new ItemsResponse<DocumentType>(await handler.HandleAsync(new ListDocumentTypes(), CurrentUser.From(http.User), ct)));

    private static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetDocumentTypeHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetDocumentTypeQuery(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Create(HttpContext http, DocumentTypeBody? body, [FromServices] CreateDocumentTypeHandler handler, CancellationToken ct)
    {
        var type = await handler.HandleAsync(new CreateDocumentType(body?.Name, body?.Fields), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/document-types/{type.Id}", type);
    }

    private static async Task<IResult> Update(HttpContext http, string id, DocumentTypeBody? body, [FromServices] UpdateDocumentTypeHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new UpdateDocumentType(RouteIds.Parse(id), body?.Name, body?.Fields), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Delete(HttpContext http, string id, [FromServices] DeleteDocumentTypeHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new DeleteDocumentType(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }
}
