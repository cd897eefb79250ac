using Dms.Modules.Audit;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Duplicates;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Upload;

/// <summary>
/// A new document from a file already stored (<paramref name="File"/>, null when the form had none). Text fields as
/// sent: <paramref name="Tags"/> are comma-separated lists, the ids are parsed here, after the other fields are validated.
/// </summary>
internal sealed record UploadDocument(Guid DocumentId, StagedContent? File, string? Title, string? Description, IReadOnlyList<string> Tags,
    string? WorkspaceId, string? FolderId, string? TypeId = null, string? Fields = null);

internal sealed class UploadDocumentHandler(Db db, AuditTrail audit) : IHandler<UploadDocument, DocumentResponse>
{
    /// <summary>Whether the caller may add a document where the command says, before its file is stored (422/403 otherwise).</summary>
    public Task CheckPlacementAsync(UploadDocument command, CurrentUser me, CancellationToken ct)
    {
        var (workspaceId, folderId) = PlacementOf(command);
        return db.InTenantAsync(me.TenantId, (c, tx) => Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct), ct);
    }

    public async Task<DocumentResponse> HandleAsync(UploadDocument command, CurrentUser me, CancellationToken ct)
    {
        var v = new Validator();
        var file = command.File;
        v.Require(file is not null, "file", "A 'file' part is required.");
        var title = command.Title?.Trim();
        if (string.IsNullOrEmpty(title) && file is not null)
        {
            title = DocumentFields.TitleFromFileName(file.FileName);
        }
        v.Require(file is null || DocumentFields.IsValidTitle(title), "title", $"title must be 1-{DocumentFields.TitleMax} characters without control characters.");
        v.Require(DocumentFields.IsValidDescription(command.Description), "description", $"description is at most {DocumentFields.DescriptionMax} characters.");
        var tags = Tags.NormalizeAll(command.Tags.SelectMany(t => t.Split(',')), v);
        v.ThrowIfInvalid();
        var (workspaceId, folderId) = PlacementOf(command);
        var typeId = Types.DocumentTyping.ParseTypeId(command.TypeId);
        var fieldChanges = Types.DocumentTyping.ParseFieldsText(command.Fields);

        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (ws, folder) = await Placement.ResolveWritableAsync(c, tx, me, workspaceId, folderId, ct);
            var duplicateOf = await DuplicateCheck.CheckAsync(c, tx, me, command.DocumentId, file!.Sha256, ct);
            var typed = await Types.DocumentTyping.ResolveAsync(c, tx, me.TenantId, typeId, null, fieldChanges, ct);
            // Everything that does not touch the tenant's storage counter comes before the version insert, which does
            // (and holds it until COMMIT): from there on only the insert, the audit record and the answer's read remain.
            await DocumentUploads.ConsumeBeforeNewVersionAsync(c, tx, me.TenantId, file!, command.DocumentId, ct);
            await NewDocuments.InsertAsync(c, tx, me, new NewDocument(command.DocumentId, ws, folder, title!, command.Description, tags, file!)
            {
                Typed = typed,
            }, ct);
            await audit.RecordAsync(c, tx, "document.uploaded", "document", command.DocumentId,
                new { title, file!.FileName, file.Size, file.Sha256, file.ContentType, via = "stream", typed.TypeId, fields = Types.StoredFields.Parse(typed.Fields) }, ct: ct);
            return (await DocumentReadModel.GetAsync(c, tx, me.TenantId, command.DocumentId, ct))! with { DuplicateOf = duplicateOf };
        }, ct);
    }

    private static (Guid? WorkspaceId, Guid? FolderId) PlacementOf(UploadDocument command) =>
        (RouteIds.ParseOptional(command.WorkspaceId, "workspaceId"), RouteIds.ParseOptional(command.FolderId, "folderId"));
}
