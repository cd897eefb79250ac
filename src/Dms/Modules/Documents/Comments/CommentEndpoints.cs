using System.Text.Json;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Comments;

/// <summary><c>GET/POST /api/v1/documents/{id}/comments</c>, <c>PATCH/DELETE /api/v1/comments/{id}</c>.</summary>
internal static class CommentEndpoints
{
    public static IEndpointRouteBuilder MapComments(this IEndpointRouteBuilder app)
    {
        var documents = app.MapGroup("/api/v1/documents").WithTags("Comments").RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/comments", List).Produces<ItemsResponse<CommentResponse>>(200).WithSummary("List a document's comments, oldest first");
        documents.MapPost("/{id}/comments", Post).Produces<CommentResponse>(201).WithSummary("Comment on a document (plain text; @user@example.com mentions a reader)");
        var comments = app.MapGroup("/api/v1/comments").WithTags("Comments").RequireAuthorization(Policies.ReadDocuments);
        comments.MapPatch("/{id}", Edit).Produces<CommentResponse>(200).WithSummary("Edit your comment");
        comments.MapDelete("/{id}", Delete).Produces(StatusCodes.Status204NoContent).WithSummary("Delete your comment (admins: any comment)");
        return app;
    }

    private static async Task<IResult> List(HttpContext http, string id, [FromServices] ListCommentsHandler handler, CancellationToken ct) =>
        Results.Ok(new ItemsResponse<CommentResponse>(await handler.HandleAsync(new ListComments(RouteIds.Parse(id)), CurrentUser.From(http.User), ct)));

    private static async Task<IResult> Post(HttpContext http, string id, JsonElement body, [FromServices] PostCommentHandler handler, CancellationToken ct)
    {
        var documentId = RouteIds.Parse(id);
        var comment = await handler.HandleAsync(new PostComment(documentId, TextOf(body)), CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/documents/{documentId}/comments", comment);
    }

    private static async Task<IResult> Edit(HttpContext http, string id, JsonElement body, [FromServices] EditCommentHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new EditComment(RouteIds.Parse(id), TextOf(body)), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Delete(HttpContext http, string id, [FromServices] DeleteCommentHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new DeleteComment(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }

    /// <summary>The body's <c>text</c>, which must be a string (anything else is a 400 naming the field).</summary>
    private static string TextOf(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
        {
            throw ApiProblem.Validation("text", "The body must be a JSON object with a string 'text'.");
        }
        try
        {
            return text.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.invalid_text", "The request contains characters that cannot be stored (such as an unpaired surrogate).");
        }
    }
}
