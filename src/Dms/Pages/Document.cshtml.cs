using Dms.Modules.Approvals.Decisions;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Approvals.Requests;
using Dms.Modules.Audit;
using Dms.Modules.Audit.Events;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Checkout;
using Dms.Modules.Documents.Comments;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Edit;
using Dms.Modules.Documents.Folders;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages;

/// <summary>One document: metadata (inline edit with the ETag), versions, preview, approval history, audit, requests.</summary>
internal sealed class DocumentModel(Db db, ApprovalHistoryHandler history, ListAuditEventsHandler auditEvents, CancelHandler cancel, GetApprovalHandler getApproval,
    ListCommentsHandler comments)
    : UiPage
{
    /// <summary>The document's comments, oldest first (partial _Comments).</summary>
    public List<CommentResponse> Comments { get; private set; } = [];

    [BindProperty]
    public string? CommentText { get; set; }

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    public DocumentResponse? Document { get; private set; }
    public List<VersionResponse> Versions { get; private set; } = [];
    public List<ApprovalResponse> History { get; private set; } = [];
    public List<AuditEventResponse> Events { get; private set; } = [];
    /// <summary>Edit and change requests are offered only to those the document's workspace lets contribute.</summary>
    public bool CanWrite { get; private set; }

    /// <summary>Where the document lives: its workspace and the folder path down to it.</summary>
    public WorkspaceResponse? Workspace { get; private set; }
    public FolderContentsResponse? Folder { get; private set; }

    /// <summary>Set when the id names a document the caller could read but that was deleted: said plainly, not "not found".</summary>
    public GoneDocument? Gone { get; private set; }

    /// <summary>Names for the ids in the audit panel (e-mails, titles).</summary>
    public Dictionary<string, string> Names { get; private set; } = [];
    public bool CanAudit => Me.Role is Roles.Admin or Roles.Auditor;
    public ApprovalResponse? Pending => History.FirstOrDefault(h => h.Status == ApprovalStatus.Pending);

    /// <summary>The pending request's details (who may decide it), when the caller may see them (admins, the requester, its approvers).</summary>
    public ApprovalResponse? PendingDetails { get; private set; }

    /// <summary>The last request could not be made: nobody but the requester could decide it under the workspace's policy.</summary>
    public bool NoEligibleApprovers => ErrorCode == "approval.no_eligible_approvers";

    /// <summary>The pending request's stage and who decides it, in words.</summary>
    public string PendingText(ApprovalResponse p)
    {
        var waiting = (PendingDetails?.EligibleApprovers ?? []).Where(e => !e.Voted)
            .Select(e => e.UserId == Me.UserId ? "you" : e.Email ?? "a former user").Distinct().ToList();
        var who = waiting.Count > 0 ? $"Waiting for {string.Join(", ", waiting)}." : "The approvers named in the workspace's policy decide it.";
        return p.Stage is { } s
            ? $"Stage {s.Index + 1} of {s.Count} ({s.Name}): {s.Approvals} of {s.Quorum} approval{(s.Quorum == 1 ? "" : "s")}. {who}"
            : who;
    }

    [BindProperty]
    public EditForm Edit { get; set; } = new();

    [BindProperty]
    public string? Reason { get; set; }

    internal sealed class EditForm
    {
        public string? Title { get; set; }
        public string? Description { get; set; }
        public string? Tags { get; set; }
        public string? ETag { get; set; }
    }

    /// <summary>The queries the page shows, handed to its handler methods by the container.</summary>
    private sealed record Readers(GetDocumentHandler Document, GetWorkspaceHandler Workspace, GetFolderHandler Folder, ListVersionsHandler Versions);

    public Task<IActionResult> OnGetAsync([FromServices] GetDocumentHandler document, [FromServices] GetWorkspaceHandler workspace,
        [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions, CancellationToken ct) => Attempt(async () =>
    {
        await LoadAsync(new Readers(document, workspace, folder, versions), ct);
        Edit = new EditForm
        {
            Title = Document!.Title,
            Description = Document.Description,
            Tags = string.Join(", ", Document.Tags),
            ETag = Document.ETag(),
        };
        return Page();
    }, NotFoundPage);

    public Task<IActionResult> OnPostEditAsync([FromServices] EditMetadataHandler edit, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct)
    {
        var read = new Readers(document, workspace, folder, versions);
        return Attempt(async () =>
        {
            var documentId = RouteIds.Parse(Id);
            // The version the editor saw, from the form's copy of the ETag, read as the API reads If-Match.
            var expected = IfMatch.ExpectedVersion(string.IsNullOrEmpty(Edit.ETag) ? "\"0\"" : Edit.ETag);
            await edit.HandleAsync(new EditMetadata(documentId, expected,
                Title: Edit.Title ?? "",
                Description: string.IsNullOrWhiteSpace(Edit.Description) ? null : Edit.Description,
                DescriptionGiven: true,
                Tags: (Edit.Tags ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)), Me, ct);
            return Done("Saved.", $"/documents/{Id}");
        }, async () =>
        {
            if (Response.StatusCode == StatusCodes.Status412PreconditionFailed)
            {
                Error = "Someone else changed this document while you were editing. Your changes were not saved: the form now shows the current values; apply your edit again.";
                ModelState.Clear();
                await LoadAsync(read, ct);
                Edit = new EditForm { Title = Document!.Title, Description = Document.Description, Tags = string.Join(", ", Document.Tags), ETag = Document.ETag() };
                return Page();
            }
            return await ReloadAsync(read, ct);
        });
    }

    public Task<IActionResult> OnPostDeleteAsync([FromServices] RequestDeleteHandler requestDelete, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct) => Attempt(async () =>
    {
        var request = await requestDelete.HandleAsync(new RequestDelete(RouteIds.Parse(Id), Reason), Me, ct);
        return request.Status == ApprovalStatus.Executed
            ? Done("Deleted: the workspace's policy lets you do it directly. An admin can restore it from the trash.", "/documents")
            : Done("Delete requested: the approvers named in the workspace's policy decide.", $"/documents/{Id}");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    public Task<IActionResult> OnPostCancelAsync(string approvalId, [FromServices] GetDocumentHandler document, [FromServices] GetWorkspaceHandler workspace,
        [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions, CancellationToken ct) => Attempt(async () =>
    {
        await cancel.HandleAsync(new Cancel(RouteIds.Parse(approvalId)), Me, ct);
        return Done("Request cancelled.", $"/documents/{Id}");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    public Task<IActionResult> OnPostCheckoutAsync([FromServices] CheckOutHandler checkOut, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct) => Attempt(async () =>
    {
        await checkOut.HandleAsync(new CheckOut(RouteIds.Parse(Id)), Me, ct);
        return Done("Checked out: only you can request a new version until you check it in.", $"/documents/{Id}");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    public Task<IActionResult> OnPostCheckinAsync([FromServices] CheckInHandler checkIn, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct) => Attempt(async () =>
    {
        await checkIn.HandleAsync(new CheckIn(RouteIds.Parse(Id)), Me, ct);
        return Done("Checked in.", $"/documents/{Id}");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    public Task<IActionResult> OnPostBreakCheckoutAsync([FromServices] BreakCheckoutHandler breakCheckout, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct) => Attempt(async () =>
    {
        var held = await breakCheckout.HandleAsync(new BreakCheckout(RouteIds.Parse(Id)), Me, ct);
        return Done($"Check-out of {held.Email} broken; they have been told.", $"/documents/{Id}");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    public Task<IActionResult> OnPostCommentAsync([FromServices] PostCommentHandler post, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct) => Attempt(async () =>
    {
        await post.HandleAsync(new PostComment(RouteIds.Parse(Id), CommentText), Me, ct);
        return Done("Comment added.", $"/documents/{Id}#comments-title");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    public Task<IActionResult> OnPostDeleteCommentAsync(string commentId, [FromServices] DeleteCommentHandler delete, [FromServices] GetDocumentHandler document,
        [FromServices] GetWorkspaceHandler workspace, [FromServices] GetFolderHandler folder, [FromServices] ListVersionsHandler versions,
        CancellationToken ct) => Attempt(async () =>
    {
        await delete.HandleAsync(new DeleteComment(RouteIds.Parse(commentId, "commentId")), Me, ct);
        return Done("Comment deleted.", $"/documents/{Id}#comments-title");
    }, () => ReloadAsync(new Readers(document, workspace, folder, versions), ct));

    private async Task<IActionResult> ReloadAsync(Readers read, CancellationToken ct)
    {
        try
        {
            await LoadAsync(read, ct);
        }
        catch (ApiProblem)
        {
            return await NotFoundPage();
        }
        Edit.ETag ??= Document!.ETag();
        return Page();
    }

    private async Task<IActionResult> NotFoundPage()
    {
        Response.StatusCode = StatusCodes.Status404NotFound;
        Document = null;
        Gone = await UiLookups.GoneDocumentAsync(db, Me, Id, HttpContext.RequestAborted);
        if (Gone is not null)
        {
            Error = null;
        }
        return Page();
    }

    private async Task LoadAsync(Readers read, CancellationToken ct)
    {
        var documentId = RouteIds.Parse(Id);
        Document = await read.Document.HandleAsync(new GetDocument(documentId), Me, ct);
        CanWrite = (await UiLookups.ContributableWorkspacesAsync(db, Me, ct)).Contains(Document.WorkspaceId);
        Workspace = await read.Workspace.HandleAsync(new GetWorkspace(Document.WorkspaceId), Me, ct);
        if (Document.FolderId is { } folder)
        {
            Folder = await read.Folder.HandleAsync(new GetFolder(folder), Me, ct);
        }
        Versions = [.. await read.Versions.HandleAsync(new ListVersions(documentId), Me, ct)];
        Comments = [.. await comments.HandleAsync(new ListComments(documentId), Me, ct)];
        History = [.. await history.HandleAsync(new ApprovalHistory(documentId), Me, ct)];
        if (Pending is { } pending)
        {
            try
            {
                PendingDetails = await getApproval.HandleAsync(new GetApproval(pending.Id), Me, ct);
            }
            catch (ApiProblem)
            {
                // Not one of its deciders: the page says the policy's approvers decide.
            }
        }
        if (CanAudit)
        {
            // The document's own events, and those of its delete and replace requests (their approval, execution:
            // the deletion or replacement itself), which the trail files under the request.
            Events = [];
            foreach (var entity in History.Select(h => h.Id.ToString()).Prepend(Id))
            {
                Events.AddRange((await auditEvents.HandleAsync(new ListAuditEvents(null, null, entity, null, null, 50, null), Me, ct)).Items);
            }
            // Pending events (not yet chained, ADR 0038) are the newest.
            Events = [.. Events.OrderByDescending(e => e.Seq ?? long.MaxValue).ThenByDescending(e => e.OccurredAt).Take(50)];
            Names = await UiLookups.EntityNamesAsync(db, Me, Events.Select(e => e.ActorId?.ToString()), ct);
        }
    }
}
