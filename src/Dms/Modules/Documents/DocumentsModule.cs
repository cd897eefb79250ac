using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Bulk;
using Dms.Modules.Documents.Checkout;
using Dms.Modules.Documents.Comments;
using Dms.Modules.Documents.DirectUpload;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Download;
using Dms.Modules.Documents.Duplicates;
using Dms.Modules.Documents.Edit;
using Dms.Modules.Documents.Folders;
using Dms.Modules.Documents.Move;
using Dms.Modules.Documents.Previews;
using Dms.Modules.Documents.Reconciliation;
using Dms.Modules.Documents.Search;
using Dms.Modules.Documents.Sharing;
using Dms.Modules.Documents.Text;
using Dms.Modules.Documents.Types;
using Dms.Modules.Documents.Upload;
using Dms.Modules.Documents.Views;
using Dms.Modules.Documents.Workspaces;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Dms.Modules.Documents;

/// <summary>Workspaces, folders, documents and their immutable versions.</summary>
internal static class DocumentsModule
{
    public static IServiceCollection AddDocuments(this IServiceCollection services, bool runBackgroundWork)
    {
        DbEnums.Register<DocumentStatus>();
        DbEnums.Register<UploadSessionStatus>();
        DbEnums.Register<UploadSessionKind>();
        services.AddHandlersFrom(typeof(DocumentsModule).Namespace!);
        services.AddSingleton<StreamedForms>();
        services.AddSingleton<DirectUploads>();
        services.AddSingleton<DocumentUploads>();
        services.AddSingleton<StorageReconciler>();
        services.AddSingleton<Search.IDocumentSearchIndex, Search.PostgresSearchIndex>();
        services.AddSingleton<Search.DocumentSearch>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOutboxHandler, Search.SearchReindexHandler>());
        services.AddDocumentText();
        services.AddDocumentPreviews();
        services.AddSharing();
        services.AddBulkJobs(runBackgroundWork);
        services.AddScoped<Bulk.IBulkAction, MoveBulkAction>();
        services.AddScoped<Bulk.IBulkAction, SetFieldAction>();
        services.AddScoped<Bulk.IBulkAction, SetTypeAction>();
        services.AddSavedViews();
        if (runBackgroundWork)
        {
            services.AddHostedService<ReconciliationService>();
        }
        return services;
    }

    public static IEndpointRouteBuilder MapDocuments(this IEndpointRouteBuilder app)
    {
        var workspaces = app.MapGroup("/api/v1/workspaces").WithTags("Workspaces");
        workspaces.MapGet("", WorkspaceEndpoints.List).Produces<ItemsResponse<WorkspaceResponse>>(200).WithSummary("List the workspaces you can read").RequireAuthorization(Policies.ReadDocuments);
        workspaces.MapGet("/{id}", WorkspaceEndpoints.Get).Produces<WorkspaceResponse>(200).WithSummary("Get a workspace").RequireAuthorization(Policies.ReadDocuments);
        workspaces.MapGet("/{id}/folders", FolderEndpoints.TopLevel).Produces<ItemsResponse<FolderResponse>>(200).WithSummary("List a workspace's top-level folders").RequireAuthorization(Policies.ReadDocuments).WithTags("Folders");
        workspaces.MapPost("", WorkspaceEndpoints.Create).Produces<WorkspaceResponse>(201).WithSummary("Create a workspace (admins)").RequireAuthorization(Policies.Admin);

        var folders = app.MapGroup("/api/v1/folders").WithTags("Folders");
        folders.MapPost("", FolderEndpoints.Create).Produces<FolderResponse>(201).WithSummary("Create a folder in a workspace or folder").RequireAuthorization(Policies.WriteDocuments);
        folders.MapGet("/{id}", FolderEndpoints.Get).Produces<FolderContentsResponse>(200).WithSummary("Get a folder with its path and subfolders").RequireAuthorization(Policies.ReadDocuments);

        var documents = app.MapGroup("/api/v1/documents").WithTags("Documents");
        documents.MapPost("", UploadDocumentEndpoint.Handle).WithSummary("Upload a document (multipart, streamed)").RequireAuthorization(Policies.WriteDocuments).RequireRateLimiting(RateLimits.Uploads)
            .DisableAntiforgery()
            .Accepts<UploadForm>("multipart/form-data")
            .Produces<DocumentResponse>(StatusCodes.Status201Created);
        documents.MapGet("", BrowseEndpoints.List).Produces<Page<DocumentResponse>>(200).WithSummary("List, search and filter documents").RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}", BrowseEndpoints.Get).Produces<DocumentResponse>(200).WithSummary("Get a document's metadata").RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/versions", BrowseEndpoints.Versions).Produces<ItemsResponse<VersionResponse>>(200).WithSummary("List a document's versions").RequireAuthorization(Policies.ReadDocuments);
        documents.MapGet("/{id}/content", DownloadEndpoint.Handle).Produces(StatusCodes.Status302Found).Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream").WithSummary("Download a document or one of its versions").RequireAuthorization(Policies.ReadDocuments);
        documents.MapPatch("/{id}", EditMetadataEndpoint.Handle).Produces<DocumentResponse>(200).WithSummary("Edit a document's title, description and tags (If-Match)").RequireAuthorization(Policies.WriteDocuments);
        app.MapGroup("/api/v1/admin").WithTags("Documents").RequireAuthorization(Policies.Admin).MapSearchSettings().MapDuplicateSettings();
        documents.MapDocumentText();
        documents.MapCheckout();
        documents.MapMove();
        app.MapComments();
        documents.MapDocumentPreviews();
        app.MapSharing();
        app.MapBulkJobs();
        app.MapDocumentTypes();
        app.MapSavedViews();

        var uploads = app.MapGroup("/api/v1/uploads").WithTags("Uploads").RequireAuthorization(Policies.WriteDocuments);
        uploads.MapPost("", UploadSessionEndpoints.Create).Produces<UploadSessionResponse>(201).WithSummary("Start a direct upload session (signed URL)").RequireRateLimiting(RateLimits.Uploads);
        uploads.MapGet("/{id}", UploadSessionEndpoints.Get).Produces<UploadSessionResponse>(200).WithSummary("Get an upload session");
        uploads.MapPost("/{id}/complete", UploadSessionEndpoints.Complete).Produces<DocumentResponse>(201).WithSummary("Complete an upload session into a document");
        uploads.MapDelete("/{id}", UploadSessionEndpoints.Abort).Produces(StatusCodes.Status204NoContent).WithSummary("Abort an upload session");
        return app;
    }
}

/// <summary>The multipart form of an upload, as the OpenAPI document describes it.</summary>
internal sealed record UploadForm(IFormFile File, string? Title, string? Description, Guid? WorkspaceId, Guid? FolderId, string? Tags, Guid? TypeId = null,
    string? Fields = null);
