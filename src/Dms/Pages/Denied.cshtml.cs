using Dms.Ui;

namespace Dms.Pages;

internal sealed class DeniedModel : UiPage;
