using Dms.Modules.Documents;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Ui.Components;

/// <summary>The document page's "Text" section: whether the current version's text was read, and if not, why.</summary>
internal sealed class DocumentTextViewComponent : ViewComponent
{
    public IViewComponentResult Invoke(DocumentResponse document) => Content("");
}
