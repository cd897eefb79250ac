namespace Dms.Modules.Documents.Previews;

/// <summary>Thumbnails and previews of every version, rendered on the outbox's background lane.</summary>
internal static class PreviewsModule
{
    public static IServiceCollection AddDocumentPreviews(this IServiceCollection services) => services;

    public static RouteGroupBuilder MapDocumentPreviews(this RouteGroupBuilder documents) => documents;
}
