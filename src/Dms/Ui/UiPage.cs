using Dms.Modules.Approvals.Domain;
using Dms.Modules.Documents;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Dms.Ui;

/// <summary>
/// Base of every page: page handlers call the modules' typed handlers (ADR 0015) as the signed-in user (the cookie
/// principal carries the token's claims) and turn their problems into plain-words messages.
/// </summary>
internal abstract class UiPage : PageModel
{
    /// <summary>The message of a failed action on this request, shown above the page's content.</summary>
    public string? Error { get; set; }

    /// <summary>The code of that failure (<c>approval.no_eligible_approvers</c>), for pages that explain some of them further.</summary>
    public string? ErrorCode { get; private set; }

    public CurrentUser Me => CurrentUser.From(User);

    /// <summary>
    /// A user whose password was reset (or generated at first start) chooses their own before any other page; the cookie's
    /// account check adds the claim from the stored account on each request.
    /// </summary>
    public override async Task OnPageHandlerExecutionAsync(Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutingContext context,
        Microsoft.AspNetCore.Mvc.Filters.PageHandlerExecutionDelegate next)
    {
        if (User.HasClaim(DmsClaims.MustChangePassword, "true") && this is not Pages.Account.PasswordModel and not Pages.LogoutModel)
        {
            context.Result = Redirect("/account/password");
            return;
        }
        await next();
    }

    /// <summary>The API's problem in plain words: its title, and its detail when it adds something.</summary>
    public static string Plain(ApiProblem problem) =>
        string.IsNullOrWhiteSpace(problem.Detail) || problem.Detail == problem.Title ? problem.Title : $"{problem.Title} {problem.Detail}";

    /// <summary>Runs an action; a problem becomes <see cref="Error"/> and the page is shown again.</summary>
    protected async Task<IActionResult> Attempt(Func<Task<IActionResult>> action, Func<Task<IActionResult>> onError)
    {
        try
        {
            return await action();
        }
        catch (ApiProblem problem)
        {
            Error = Plain(problem);
            ErrorCode = problem.Code;
            if (problem.Status == StatusCodes.Status412PreconditionFailed || problem.Status == StatusCodes.Status429TooManyRequests)
            {
                Response.StatusCode = problem.Status;
            }
            else if (problem.Status is >= 400 and < 500)
            {
                Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            }
            return await onError();
        }
    }

    /// <summary>Post/redirect/get with a message for the next page.</summary>
    protected IActionResult Done(string message, string url)
    {
        TempData["Flash"] = message;
        return Redirect(url);
    }
}

/// <summary>Small display helpers for the views.</summary>
internal static class Display
{
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GB",
    };

    public static string When(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture);

    public static string When(DateTime? utc) => utc is { } t ? When(t) : "";

    public static string StatusClass(DocumentStatus status) => status switch
    {
        DocumentStatus.Active => "badge ok",
        DocumentStatus.PendingDelete or DocumentStatus.PendingReplace => "badge warn",
        DocumentStatus.Deleted => "badge bad",
        _ => "badge",
    };

    public static string StatusClass(ApprovalStatus status) => status switch
    {
        ApprovalStatus.Approved or ApprovalStatus.Executed => "badge ok",
        ApprovalStatus.Pending => "badge warn",
        ApprovalStatus.Rejected or ApprovalStatus.Failed => "badge bad",
        _ => "badge",
    };

    /// <summary>An approval state in words: its name.</summary>
    public static string Status(ApprovalStatus status) => status.ToString();

    /// <summary>What a request asks for, in words (the API's values are identifiers: LegalHoldLift).</summary>
    public static string Request(ApprovalType type) => type switch
    {
        ApprovalType.Delete => "Deletion",
        ApprovalType.Replace => "New version",
        ApprovalType.Restore => "Restore from trash",
        ApprovalType.LegalHoldLift => "Legal hold lift",
        _ => type.ToString(),
    };

    /// <summary>A document's status in words (the API's values are identifiers: PendingDelete).</summary>
    public static string Status(DocumentStatus status) => status switch
    {
        DocumentStatus.PendingDelete => "Delete pending",
        DocumentStatus.PendingReplace => "Replace pending",
        _ => status.ToString(),
    };

    /// <summary>What kind of file this is, in words: people know "Word document", not application/vnd.openxmlformats-….</summary>
    public static string Kind(string contentType, string fileName)
    {
        var known = contentType.Split(';')[0].Trim().ToLowerInvariant() switch
        {
            "application/pdf" => "PDF document",
            "image/png" => "PNG image",
            "image/jpeg" => "JPEG image",
            "image/gif" => "GIF image",
            "image/webp" => "WebP image",
            "image/tiff" => "TIFF image",
            "text/plain" => "Plain text",
            "text/csv" => "CSV table",
            "text/markdown" => "Markdown text",
            "application/json" => "JSON data",
            "application/zip" => "ZIP archive",
            "application/msword" or "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "Word document",
            "application/vnd.ms-excel" or "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "Excel spreadsheet",
            "application/vnd.ms-powerpoint" or "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "PowerPoint presentation",
            "application/vnd.oasis.opendocument.text" => "OpenDocument text",
            "application/vnd.oasis.opendocument.spreadsheet" => "OpenDocument spreadsheet",
            "application/vnd.oasis.opendocument.presentation" => "OpenDocument presentation",
            _ => null,
        };
        if (known is not null)
        {
            return known;
        }
        var extension = System.IO.Path.GetExtension(fileName).TrimStart('.').ToUpperInvariant();
        return extension.Length > 0 ? $"{extension} file" : "File";
    }

    /// <summary>An audit action in words ("document.viewed" → "Viewed the document"); unknown ones keep their name, made readable.</summary>
    public static string Action(string action, System.Text.Json.JsonElement? data = null)
    {
        // Requests are filed under the request; what they did to the document is in their data.
        ApprovalType? type = data is { ValueKind: System.Text.Json.JsonValueKind.Object } d && d.TryGetProperty("type", out var t) &&
            t.ValueKind == System.Text.Json.JsonValueKind.String && Enum.TryParse<ApprovalType>(t.GetString(), out var parsed)
            ? parsed
            : null;
        return (action, type) switch
        {
            ("approval.requested", ApprovalType.Delete) => "Requested deletion",
            ("approval.requested", ApprovalType.Replace) => "Requested a replacement",
            ("approval.executed", ApprovalType.Delete) => "Deleted the document (approved request)",
            ("approval.executed", ApprovalType.Replace) => "Replaced the file (approved request)",
            _ => ActionName(action),
        };
    }

    private static string ActionName(string action) => action switch
    {
        "document.uploaded" => "Uploaded the document",
        "document.viewed" => "Viewed the document",
        "document.downloaded" => "Downloaded the document",
        "document.updated" => "Edited the details",
        "document.restored" => "Restored from the trash",
        "document.purged" => "Removed for good",
        "document.legal_hold_placed" => "Placed a legal hold",
        "document.legal_hold_released" => "Lifted the legal hold",
        "document.moved" => "Moved the document",
        "duplicates.settings_changed" => "Changed the duplicate setting",
        "approval.requested" => "Requested a change",
        "approval.approved" => "Approved the request",
        "approval.rejected" => "Rejected the request",
        "approval.cancelled" => "Cancelled the request",
        "approval.expired" => "The request expired",
        "approval.executed" => "Carried out the request",
        "approval.failed" => "The request could not be carried out",
        "approval.content_downloaded" => "Downloaded the proposed file",
        "auth.login" => "Signed in",
        "auth.login_failed" => "Failed to sign in",
        "auth.logout" => "Signed out",
        "auth.refresh_reuse_detected" => "A used sign-in token came back (sign-in ended)",
        "user.created" => "Created a user",
        "user.updated" => "Changed a user",
        "workspace.created" => "Created a workspace",
        "workspace.member_added" => "Added a workspace member",
        "workspace.member_changed" => "Changed a member's workspace role",
        "workspace.member_removed" => "Removed a workspace member",
        "group.created" => "Created a group",
        "group.renamed" => "Renamed a group",
        "group.deleted" => "Deleted a group",
        "group.member_added" => "Added a group member",
        "group.member_removed" => "Removed a group member",
        "folder.created" => "Created a folder",
        "token.created" => "Created an API token",
        "token.revoked" => "Revoked an API token",
        "tenant.created" => "Created the organisation",
        "outbox.replayed" => "Replayed a background message",
        _ => action.Replace('.', ' ').Replace('_', ' '),
    };

    /// <summary>What kind of thing an audit event is about, in words.</summary>
    public static string Entity(string type) => type switch
    {
        "document" => "Document",
        "approval" => "Request",
        "user" => "User",
        "workspace" => "Workspace",
        "group" => "Group",
        "folder" => "Folder",
        "api_token" => "API token",
        "tenant" => "Organisation",
        "outbox_message" => "Background message",
        "refresh_token_family" => "Sign-in",
        _ => type.Replace('_', ' '),
    };

    /// <summary>A background message's type in words (the dead-messages page); an unknown one keeps its code, made readable.</summary>
    public static string MessageType(string type) => type switch
    {
        OutboxTypes.Execute => "Carry out an approved request",
        OutboxTypes.DiscardStaged => "Discard a replacement's proposed file",
        OutboxTypes.Purge => "Remove a deleted document for good",
        Modules.Notifications.NotificationOutbox.MessageType => "Send a notification",
        _ => type.Replace('.', ' ').Replace('_', ' '),
    };

    /// <summary>Who did it: the e-mail, or "System" for the background worker.</summary>
    public static string Actor(string type, string label) => type == "system" ? "System" : label;

    /// <summary>The browser can show these itself, safely; never HTML, SVG or XML.</summary>
    public static bool CanPreview(string contentType) => contentType is "application/pdf" or "image/png" or "image/jpeg";
}
