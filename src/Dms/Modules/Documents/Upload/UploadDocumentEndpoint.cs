using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Upload;

/// <summary>
/// <c>POST /api/v1/documents</c> (multipart/form-data: <c>file</c>, <c>title</c>, <c>description</c>,
/// <c>workspaceId</c>, <c>folderId</c>, <c>tags</c>, <c>typeId</c>, <c>fields</c> as a JSON object). The form is streamed (<see cref="StreamedForms"/>): the file goes
/// to storage as it arrives, then <see cref="UploadDocumentHandler"/> writes the rows.
/// </summary>
internal static class UploadDocumentEndpoint
{
    public static async Task<IResult> Handle(HttpContext http, [FromServices] StreamedForms forms, [FromServices] UploadDocumentHandler handler,
        CancellationToken ct)
    {
        var me = CurrentUser.From(http.User);
        var document = await forms.ReadAsync(http.Request, me, Guid.CreateVersion7(),
            // Refused before a byte of the file is read or stored; checked again when the rows are written.
            beforeFile: form => handler.CheckPlacementAsync(Command(form), me, ct),
            save: form => handler.HandleAsync(Command(form), me, ct), ct);
        http.Response.Headers.ETag = document.ETag();
        return Results.Created($"/api/v1/documents/{document.Id}", document);
    }

    private static UploadDocument Command(StreamedForm form) =>
        new(form.DocumentId, form.File, form.Field("title"), form.Field("description"), [.. form.All("tags")], form.Field("workspaceId"), form.Field("folderId"),
            form.Field("typeId"), form.Field("fields"));
}
