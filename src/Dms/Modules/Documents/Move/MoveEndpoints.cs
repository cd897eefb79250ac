using System.Text.Json;
using Dms.Modules.Documents.Edit;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Move;

/// <summary>The body of <c>POST /api/v1/documents/{id}/move</c>, as the OpenAPI document describes it.</summary>
internal sealed record MoveBody(Guid WorkspaceId, Guid? FolderId);

/// <summary><c>POST /api/v1/documents/{id}/move</c> with <c>If-Match</c>, as edits take it.</summary>
internal static class MoveEndpoints
{
    public static RouteGroupBuilder MapMove(this RouteGroupBuilder documents)
    {
        documents.MapPost("/{id}/move", Move).Accepts<MoveBody>("application/json").Produces<DocumentResponse>(200)
            .WithSummary("Move a document to another folder or workspace (If-Match)").RequireAuthorization(Policies.WriteDocuments);
        return documents;
    }

    private static async Task<IResult> Move(HttpContext http, string id, JsonElement body, [FromServices] MoveDocumentHandler handler, CancellationToken ct)
    {
        var documentId = RouteIds.Parse(id);
        var expected = IfMatch.ExpectedVersion(http.Request.Headers.IfMatch.ToString());
        var (workspaceId, folderId) = Parse(body);
        var result = await handler.HandleAsync(new MoveDocument(documentId, expected, workspaceId, folderId), CurrentUser.From(http.User), ct);
        http.Response.Headers.ETag = result.Document.ETag();
        return Results.Ok(result.Document);
    }

    /// <summary>The target from a JSON object: <c>workspaceId</c> (required) and <c>folderId</c> (null or absent: the workspace's top level).</summary>
    public static (Guid WorkspaceId, Guid? FolderId) Parse(JsonElement body)
    {
        var v = new Validator();
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ApiProblem.Validation("body", "The body must be a JSON object: {workspaceId, folderId}.");
        }
        Guid? workspaceId = null, folderId = null;
        foreach (var property in body.EnumerateObject())
        {
            switch (property.Name)
            {
                case "workspaceId":
                    workspaceId = Id(property.Value);
                    v.Require(workspaceId is not null, "workspaceId", "workspaceId must be a workspace id.");
                    break;
                case "folderId":
                    folderId = Id(property.Value);
                    v.Require(property.Value.ValueKind == JsonValueKind.Null || folderId is not null, "folderId", "folderId must be a folder id or null (the workspace's top level).");
                    break;
                default:
                    v.Require(false, property.Name, $"'{property.Name}' is not a move field; the fields are workspaceId and folderId.");
                    break;
            }
        }
        v.Require(workspaceId is not null || body.TryGetProperty("workspaceId", out _), "workspaceId", "workspaceId is required.");
        v.ThrowIfInvalid();
        return (workspaceId!.Value, folderId);
    }

    private static Guid? Id(JsonElement value) =>
        value.ValueKind == JsonValueKind.String && Guid.TryParse(value.GetString(), out var id) ? id : null;
}
