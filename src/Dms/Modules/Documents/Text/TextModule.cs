namespace Dms.Modules.Documents.Text;

/// <summary>Text extraction from every version (PDF text layer, Office, plain text, OCR), on the outbox's background lane.</summary>
internal static class TextModule
{
    public static IServiceCollection AddDocumentText(this IServiceCollection services) => services;

    public static RouteGroupBuilder MapDocumentText(this RouteGroupBuilder documents) => documents;
}
