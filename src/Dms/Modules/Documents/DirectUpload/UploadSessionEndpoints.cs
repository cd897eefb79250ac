using Dms.Modules.Documents.Domain;
using Dms.Platform.Configuration;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.DirectUpload;

internal sealed record CreateUploadRequest(string FileName, long? Size, string? ContentType, string? Sha256, string? TypeId = null,
    System.Text.Json.JsonElement? Fields = null);

internal sealed record UploadPartUrl(int Number, Uri Url);

internal sealed record UploadSessionResponse(
    Guid Id, UploadSessionStatus Status, string FileName, long? Size, DateTime ExpiresAt, string Method, Uri? Url,
    IReadOnlyList<UploadPartUrl>? Parts, long? PartSize, IReadOnlyDictionary<string, string> Headers, Guid? DocumentId)
{
    public static readonly IReadOnlyDictionary<string, string> NoHeaders = new Dictionary<string, string>();
}

internal sealed record CompleteUploadRequest(
    string? Title, string? Description, string? WorkspaceId, string? FolderId, string[]? Tags, CompletedPart[]? Parts);

/// <summary>
/// Direct upload: <c>POST /api/v1/uploads</c> hands out presigned URLs, the client sends the bytes straight
/// to storage, <c>POST /api/v1/uploads/{id}/complete</c> turns them into a document. The server verifies
/// what arrived (size, type by content, SHA-256 when declared) on a key the client cannot write to.
/// </summary>
internal static class UploadSessionEndpoints
{
    public static async Task<IResult> Create(HttpContext http, CreateUploadRequest body, [FromServices] CreateUploadHandler handler,
        IOptions<DmsOptions> options, CancellationToken ct)
    {
        var session = await handler.HandleAsync(new CreateUpload(body.FileName, body.Size, body.ContentType, body.Sha256, ApiBase.From(http, options.Value),
            body.TypeId, body.Fields),
            CurrentUser.From(http.User), ct);
        return Results.Created($"/api/v1/uploads/{session.Id}", session);
    }

    public static async Task<IResult> Get(HttpContext http, string id, [FromServices] GetUploadHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetUpload(RouteIds.Parse(id)), CurrentUser.From(http.User), ct));

    public static async Task<IResult> Abort(HttpContext http, string id, [FromServices] AbortUploadHandler handler, CancellationToken ct)
    {
        await handler.HandleAsync(new AbortUpload(RouteIds.Parse(id)), CurrentUser.From(http.User), ct);
        return Results.NoContent();
    }

    public static async Task<IResult> Complete(HttpContext http, string id, CompleteUploadRequest body, [FromServices] CompleteUploadHandler handler,
        CancellationToken ct)
    {
        var sessionId = RouteIds.Parse(id);
        var document = await handler.HandleAsync(
            new CompleteUpload(sessionId, body.Title, body.Description, body.WorkspaceId, body.FolderId, body.Tags, body.Parts), CurrentUser.From(http.User), ct);
        http.Response.Headers.ETag = document.ETag();
        return Results.Created($"/api/v1/documents/{document.Id}", document);
    }
}
