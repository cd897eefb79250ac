using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Documents.Previews;

/// <summary>Thumbnails and previews of every version, rendered on the outbox's background lane.</summary>
internal static class PreviewsModule
{
    public static IServiceCollection AddDocumentPreviews(this IServiceCollection services)
    {
        DbEnums.Register<RenditionKind>();
        DbEnums.Register<RenditionStatus>();
        services.AddOptions<PreviewOptions>().BindConfiguration(PreviewOptions.Section);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, RenderPreviewsHandler>());
        return services;
    }

    public static RouteGroupBuilder MapDocumentPreviews(this RouteGroupBuilder documents)
    {
        documents.MapGet("/{id}/thumbnail", RenditionEndpoints.Thumbnail)
            .Produces<byte[]>(StatusCodes.Status200OK, "image/png", "image/jpeg")
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Get a version's thumbnail (PNG or JPEG, 320 px wide)").RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/preview", RenditionEndpoints.Preview)
            .Produces<byte[]>(StatusCodes.Status200OK, "application/pdf")
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Get a version's preview (Office and text files as PDF)").RequireAuthorization(Policies.ReadDocuments);
        return documents;
    }
}
