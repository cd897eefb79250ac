using Dms.Modules.Documents;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Edit;
using Dms.Modules.Documents.Move;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>Moving one document: choose a workspace's top level or one of its folders among those the caller may add to.</summary>
internal sealed class DocumentMoveModel(GetDocumentHandler get, ListMoveTargetsHandler targets, MoveDocumentHandler move) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    /// <summary>The chosen place as <c>workspaceId</c> or <c>workspaceId/folderId</c>.</summary>
    [BindProperty]
    public string? Target { get; set; }

    /// <summary>The ETag the mover saw: a move after someone else's change is refused, as an edit is.</summary>
    [BindProperty]
    public string? ETag { get; set; }

    public DocumentResponse? Document { get; private set; }
    public IReadOnlyList<MoveTarget> Targets { get; private set; } = [];

    public static string ValueOf(Guid workspaceId, Guid? folderId) => folderId is { } f ? $"{workspaceId}/{f}" : workspaceId.ToString();

    public Task<IActionResult> OnGetAsync(CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(ct);
        ETag = Document!.ETag();
        Target ??= ValueOf(Document.WorkspaceId, Document.FolderId);
        return Page();
    }, () => Task.FromResult<IActionResult>(NotFound()));

    public Task<IActionResult> OnPostAsync(CancellationToken ct) => Attempt(async () =>
    {
        var documentId = RouteIds.Parse(Id);
        var parts = (Target ?? "").Split('/');
        if (parts.Length is < 1 or > 2 || !Guid.TryParse(parts[0], out var workspaceId) || (parts.Length == 2 && !Guid.TryParse(parts[1], out _)))
        {
            throw ApiProblem.Validation("target", "Choose where to move the document.");
        }
        Guid? folderId = parts.Length == 2 ? Guid.Parse(parts[1]) : null;
        var result = await move.HandleAsync(new MoveDocument(documentId, IfMatch.ExpectedVersion(ETag ?? ""), workspaceId, folderId), Me, ct);
        return Done(result.Moved ? "Moved." : "It was already there.", $"/documents/{result.Document.Id}");
    }, async () =>
    {
        await LoadAsync(ct);
        return Page();
    });

    private async Task LoadAsync(CancellationToken ct)
    {
        Document = await get.HandleAsync(new GetDocument(RouteIds.Parse(Id)), Me, ct);
        Targets = await targets.HandleAsync(new ListMoveTargets(), Me, ct);
    }
}
