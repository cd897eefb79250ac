using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.DirectUpload;
using Dms.Modules.Documents.Download;
using Dms.Modules.Documents.Edit;
using Dms.Modules.Documents.Folders;
using Dms.Modules.Documents.Reconciliation;
using Dms.Modules.Documents.Upload;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Security;

namespace Dms.Modules.Documents;

/// <summary>Workspaces, folders, documents and their immutable versions.</summary>
internal static class DocumentsModule
{
    public static IServiceCollection AddDocuments(this IServiceCollection services, bool runBackgroundWork)
    {
        services.AddSingleton<StorageReconciler>();
        if (runBackgroundWork)
        {
            services.AddHostedService<ReconciliationService>();
        }
        return services;
    }

    public static IEndpointRouteBuilder MapDocuments(this IEndpointRouteBuilder app)
    {
        var workspaces = app.MapGroup("/api/v1/workspaces").WithTags("Workspaces");
        workspaces.MapGet("", WorkspaceEndpoints.List).RequireAuthorization(Policies.ReadDocuments);
        workspaces.MapGet("/{id}", WorkspaceEndpoints.Get).RequireAuthorization(Policies.ReadDocuments);
        workspaces.MapGet("/{id}/folders", FolderEndpoints.TopLevel).RequireAuthorization(Policies.ReadDocuments).WithTags("Folders");
        workspaces.MapPost("", WorkspaceEndpoints.Create).RequireAuthorization(Policies.Admin);

        var folders = app.MapGroup("/api/v1/folders").WithTags("Folders");
        folders.MapPost("", FolderEndpoints.Create).RequireAuthorization(Policies.WriteDocuments);
        folders.MapGet("/{id}", FolderEndpoints.Get).RequireAuthorization(Policies.ReadDocuments);

        var documents = app.MapGroup("/api/v1/documents").WithTags("Documents");
        documents.MapPost("", UploadDocumentEndpoint.Handle).RequireAuthorization(Policies.WriteDocuments).RequireRateLimiting(RateLimits.Uploads)
            .DisableAntiforgery()
            .Accepts<UploadForm>("multipart/form-data")
            .Produces<Domain.DocumentResponse>(StatusCodes.Status201Created);
        documents.MapGet("", BrowseEndpoints.List).RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}", BrowseEndpoints.Get).RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/versions", BrowseEndpoints.Versions).RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/content", DownloadEndpoint.Handle).RequireAuthorization(Policies.ReadDocuments);
        documents.MapPatch("/{id}", EditMetadataEndpoint.Handle).RequireAuthorization(Policies.WriteDocuments);

        var uploads = app.MapGroup("/api/v1/uploads").WithTags("Uploads").RequireAuthorization(Policies.WriteDocuments);
        uploads.MapPost("", UploadSessionEndpoints.Create).RequireRateLimiting(RateLimits.Uploads);
        uploads.MapGet("/{id}", UploadSessionEndpoints.Get);
        uploads.MapPost("/{id}/complete", UploadSessionEndpoints.Complete);
        uploads.MapDelete("/{id}", UploadSessionEndpoints.Abort);
        return app;
    }
}

/// <summary>The multipart form of an upload, as the OpenAPI document describes it.</summary>
internal sealed record UploadForm(IFormFile File, string? Title, string? Description, Guid? WorkspaceId, Guid? FolderId, string? Tags);
