using Dms.Modules.Documents;
using Dms.Modules.Documents.Previews;
using Dms.Platform.Database;
using Dms.Platform.Security;

namespace Dms.Ui.Components;

/// <summary>What the document page's "Preview" section shows for the current version.</summary>
internal enum PreviewShown
{
    /// <summary>A PDF, PNG or JPEG: the original, inline.</summary>
    Original,

    /// <summary>An Office or text file converted to PDF by the worker.</summary>
    Rendered,

    /// <summary>The worker has not rendered it yet: the section asks again shortly.</summary>
    Pending,

    /// <summary>Rendering failed; <see cref="DocumentPreview.Reason"/> says why.</summary>
    Failed,

    /// <summary>No preview for this type of file (a thumbnail may still exist, e.g. TIFF).</summary>
    None,
}

internal sealed record DocumentPreview(DocumentResponse Document, PreviewShown Shown, string? Reason, bool HasThumbnail);

/// <summary>
/// The document page's "Preview" section (Pages/Shared/_DocumentPreview.cshtml): never empty. The original for what the
/// browser shows safely, the rendered PDF for Office and text files, "being prepared" while the worker renders it, and
/// otherwise the reason there is none. A partial with this helper rather than a view component: MVC only discovers
/// public view components, and the page's types are internal.
/// </summary>
internal static class DocumentPreviews
{
    public static async Task<DocumentPreview> ForAsync(Db db, CurrentUser me, DocumentResponse document, CancellationToken ct)
    {
        var version = document.CurrentVersion;
        var renditions = await db.InTenantAsync(me.TenantId, (c, tx) => Renditions.ForVersionAsync(c, tx, me.TenantId, document.Id, version.Number, ct), ct);
        var thumbnail = renditions.GetValueOrDefault(RenditionKind.Thumbnail)?.Status == RenditionStatus.Ready;
        if (Display.CanPreview(version.ContentType))
        {
            // A PNG, JPEG or PDF that the worker could not even draw a thumbnail of will not show in the browser either.
            return renditions.GetValueOrDefault(RenditionKind.Thumbnail) is { Status: RenditionStatus.Failed, Error: var error }
                ? new DocumentPreview(document, PreviewShown.Failed, error, false)
                : new DocumentPreview(document, PreviewShown.Original, null, false);
        }
        if (!RenditionPlan.For(version.ContentType).RenderPreview)
        {
            return new DocumentPreview(document, PreviewShown.None, null, thumbnail);
        }
        var preview = renditions.GetValueOrDefault(RenditionKind.Preview);
        return preview switch
        {
            null or { Status: RenditionStatus.Pending } => new DocumentPreview(document, PreviewShown.Pending, null, false),
            { Status: RenditionStatus.Ready } => new DocumentPreview(document, PreviewShown.Rendered, null, thumbnail),
            { Status: RenditionStatus.Failed } => new DocumentPreview(document, PreviewShown.Failed, preview.Error, thumbnail),
            _ => new DocumentPreview(document, PreviewShown.None, null, thumbnail),
        };
    }
}
