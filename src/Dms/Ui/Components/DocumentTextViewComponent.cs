using System.Globalization;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Text;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Ui.Components;

/// <summary>
/// The document page's "Text" section: whether the current version's text was read, and if not, why. Public because
/// MVC discovers only public view components; the internal types come in as <c>object</c> and from the container.
/// </summary>
public sealed class DocumentTextViewComponent(IServiceProvider services) : ViewComponent
{
    // With one object parameter MVC hands over the page's whole argument object (new { document = d }).
    public async Task<IViewComponentResult> InvokeAsync(object document) => await InvokeAsync(document as DocumentResponse
        ?? (DocumentResponse)document.GetType().GetProperty(nameof(document))!.GetValue(document)!);

    private async Task<IViewComponentResult> InvokeAsync(DocumentResponse document)
    {
        var handler = services.GetRequiredService<GetVersionTextHandler>();
        VersionTextResponse text;
        try
        {
            text = await handler.HandleAsync(new GetVersionText(document.Id, document.CurrentVersion.Number), CurrentUser.From(HttpContext.User), HttpContext.RequestAborted);
        }
        catch (ApiProblem)
        {
            return Content(""); // deleted or out of reach since the page loaded: the page itself says so
        }
        return View(new DocumentTextView(document.Id, Summary(text), text.Reason, text.Characters > 0, text.Status == TextStatus.Pending));
    }

    /// <summary>One plain sentence per state; no state names or media types.</summary>
    internal static string Summary(VersionTextResponse text)
    {
        var characters = text.Characters == 1 ? "1 character" : $"{text.Characters.ToString("N0", CultureInfo.InvariantCulture)} characters";
        return (text.Status, text.Method) switch
        {
            (TextStatus.Pending, _) => "Reading the text…",
            (TextStatus.Extracted, TextMethod.TextLayer) => $"Text read from the PDF’s text layer ({characters}).",
            (TextStatus.Extracted, TextMethod.Ocr) => $"Text read by OCR ({characters}).",
            (TextStatus.Extracted, TextMethod.Office) => $"Text read from the document ({characters}).",
            (TextStatus.Extracted, _) => $"Text read from the file ({characters}).",
            (TextStatus.Empty, TextMethod.Ocr) => "No text: OCR found no words in this file.",
            (TextStatus.Empty, _) => "No text: the file holds no text.",
            (TextStatus.Unsupported, _) => "No text: this file type is not read.",
            (TextStatus.Unavailable, _) => "No text: the tool that reads this file type is not installed on the server.",
            _ => "No text: the file could not be read.",
        };
    }
}

internal sealed record DocumentTextView(Guid DocumentId, string Summary, string? Reason, bool HasText, bool Pending);
