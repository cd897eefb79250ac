using System.Text.Json;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Documents;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Approvals.Requests;

internal sealed record DeleteRequestBody(string? Reason);

internal sealed record ReplaceRequestBody(string? UploadId, string? Reason, CompletedPart[]? Parts);

/// <summary>
/// <c>POST /documents/{id}/delete-requests</c> and <c>/replace-requests</c>: adapters over <see cref="RequestDeleteHandler"/>,
/// <see cref="RequestReplaceHandler"/> and <see cref="RequestReplaceFromUploadHandler"/>.
/// </summary>
internal static class RequestEndpoints
{
    public static async Task<IResult> RequestDelete(HttpContext http, string id, DeleteRequestBody body, [FromServices] RequestDeleteHandler handler, CancellationToken ct)
    {
        var documentId = RouteIds.Parse(id);
        return Created(await handler.HandleAsync(new RequestDelete(documentId, body.Reason), CurrentUser.From(http.User), ct));
    }

    /// <summary>Multipart (<c>file</c>, <c>reason</c>) streams the new content; JSON <c>{uploadId, reason}</c> takes a direct upload's.</summary>
    public static async Task<IResult> RequestReplace(HttpContext http, string id, [FromServices] DocumentUploads uploads, [FromServices] RequestReplaceHandler replace,
        [FromServices] RequestReplaceFromUploadHandler replaceFromUpload, CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var documentId = RouteIds.Parse(id);
        if (http.Request.HasJsonContentType())
        {
            ReplaceRequestBody? body;
            try
            {
                body = await http.Request.ReadFromJsonAsync<ReplaceRequestBody>(Outbox.Json, ct);
            }
            catch (JsonException ex)
            {
                throw new ApiProblem(StatusCodes.Status400BadRequest, "request.malformed", "The request could not be read.",
                    $"The JSON body is malformed or has a value of the wrong type{(ex.Path is { Length: > 0 } p ? $" at {p}" : "")}.");
            }
            if (body is null)
            {
                throw ApiProblem.Validation("body", "Send {uploadId, reason}.");
            }
            return Created(await replaceFromUpload.HandleAsync(new RequestReplaceFromUpload(documentId, body.Reason, body.UploadId, body.Parts), me, ct));
        }
        return Created(await uploads.StreamAsync(http.Request, me, documentId,
            (field, file) => replace.HandleAsync(new RequestReplace(documentId, field("reason"), file), me, ct), ct));
    }

    private static IResult Created(ApprovalResponse request) => Results.Created($"/api/v1/approvals/{request.Id}", request);
}
