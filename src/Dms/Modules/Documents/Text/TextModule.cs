using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Documents.Text;

/// <summary>Text extraction from every version (PDF text layer, Office, plain text, OCR), on the outbox's background lane.</summary>
internal static class TextModule
{
    public static IServiceCollection AddDocumentText(this IServiceCollection services)
    {
        DbEnums.Register<TextStatus>();
        DbEnums.Register<TextMethod>();
        services.AddOptions<ExtractionOptions>().BindConfiguration(ExtractionOptions.Section);
        services.AddSingleton<TextExtractor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, ExtractTextHandler>());
        return services;
    }

    public static RouteGroupBuilder MapDocumentText(this RouteGroupBuilder documents)
    {
        documents.MapGet("/{id}/text", TextEndpoints.Get).Produces<VersionTextResponse>(200)
            .WithSummary("Whether a version's text was read, how, and if not why").RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/text/content", TextEndpoints.Content).Produces<string>(200, "text/plain")
            .WithSummary("The text read from a version (plain text)").RequireAuthorization(Policies.ReadDocuments);
        return documents;
    }
}
