using Dms.Modules.Approvals.Decisions;
using Dms.Modules.Approvals.Delegation;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Approvals.Execution;
using Dms.Modules.Approvals.Governance;
using Dms.Modules.Approvals.Queries;
using Dms.Modules.Approvals.Requests;
using Dms.Modules.Approvals.Retention;
using Dms.Modules.Notifications;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Approvals;

/// <summary>Approval governance: requests, decisions, execution through the outbox, trash, legal hold, retention.</summary>
internal static class ApprovalsModule
{
    public static IServiceCollection AddApprovals(this IServiceCollection services, bool runBackgroundWork)
    {
        DbEnums.Register<ApprovalStatus>();
        Platform.Observability.DmsTelemetry.StartApprovalCounters(ApprovalStates.All.Select(s => s.ToString()));
        DbEnums.Register<Domain.ApprovalType>();
        services.AddHandlersFrom(typeof(ApprovalsModule).Namespace!);
        services.AddSingleton<IOutboxHandler, ExecuteApprovalHandler>();
        services.AddSingleton<IOutboxHandler, DiscardStagedHandler>();
        services.AddSingleton<IOutboxHandler, PurgeDocumentHandler>();
        services.AddSingleton<RetentionJobs>();
        services.AddScoped<Documents.Bulk.IBulkAction, Requests.BulkRequestDelete>();
        if (runBackgroundWork)
        {
            services.AddHostedService<RetentionService>();
        }
        return services;
    }

    public static IEndpointRouteBuilder MapApprovals(this IEndpointRouteBuilder app)
    {
        var documents = app.MapGroup("/api/v1/documents").WithTags("Approvals");
        documents.MapPost("/{id}/delete-requests", RequestEndpoints.RequestDelete).Produces<ApprovalResponse>(201).WithSummary("Request a document's deletion (approved as the workspace's policy says, or done at once where it is direct)").RequireAuthorization(Policies.WriteDocuments);
        documents.MapPost("/{id}/replace-requests", RequestEndpoints.RequestReplace).Produces<ApprovalResponse>(201).WithSummary("Request a document's replacement with a new file").RequireAuthorization(Policies.WriteDocuments).RequireRateLimiting(RateLimits.Uploads)
            .DisableAntiforgery()
            // Both bodies are accepted (and routing enforces this list): the file itself, or a direct upload's id.
            .Accepts<ReplaceForm>("multipart/form-data", "application/json");
        documents.MapGet("/{id}/approvals", ApprovalQueries.History).Produces<ItemsResponse<ApprovalResponse>>(200)
            .WithSummary("List a document's approval requests").RequireAuthorization(Policies.ReadDocuments);
        documents.MapPost("/{id}/restore", RetentionEndpoints.Restore).Produces<Documents.DocumentResponse>(200).Produces<ApprovalResponse>(202).WithSummary("Restore a deleted document from the trash (admins); a request where the workspace's policy governs restores").RequireAuthorization(Policies.Admin).WithTags("Retention");
        documents.MapPut("/{id}/legal-hold", RetentionEndpoints.LegalHold).Produces<LegalHoldResponse>(200).Produces<ApprovalResponse>(202).WithSummary("Place or lift a legal hold (admins)").RequireAuthorization(Policies.Admin).WithTags("Retention");

        var approvals = app.MapGroup("/api/v1/approvals").WithTags("Approvals").RequireAuthorization(Policies.ReadDocuments);
        approvals.MapGet("", ApprovalQueries.List).Produces<Page<ApprovalResponse>>(200)
            .WithSummary("List approval requests (the queue for admins, your own otherwise)");
        approvals.MapGet("/{id}", ApprovalQueries.Get).Produces<ApprovalResponse>(200).WithSummary("Get an approval request");
        approvals.MapGet("/{id}/content", ApprovalContentEndpoint.Handle).Produces(StatusCodes.Status302Found).Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream").WithSummary("Download a replace request's proposed file");
        approvals.MapPost("/{id}/approve", DecisionEndpoints.Approve).Produces<ApprovalResponse>(200).WithSummary("Approve a request (its current stage's approvers or their delegates, never your own)");
        approvals.MapPost("/{id}/reject", DecisionEndpoints.Reject).Produces<ApprovalResponse>(200).WithSummary("Reject a request with a reason (its current stage's approvers or their delegates, never your own)");
        approvals.MapPost("/{id}/cancel", DecisionEndpoints.Cancel).Produces<ApprovalResponse>(200)
            .WithSummary("Cancel your own pending request");
        approvals.MapPost("/{id}/give-up", DecisionEndpoints.GiveUp).Produces<ApprovalResponse>(200).WithSummary("Give up an approved request whose execution died: the document is active again (admins)").RequireAuthorization(Policies.Admin);

        var policies = app.MapGroup("/api/v1/workspaces/{id}/policy").WithTags("Approvals").RequireAuthorization(Policies.ReadDocuments);
        policies.MapGet("", GovernanceEndpoints.GetPolicy).Produces<PolicyResponse>(200).WithSummary("Get a workspace's governance policy (readers of the workspace)");
        policies.MapPut("", GovernanceEndpoints.SetPolicy).Produces<PolicyResponse>(200)
            .WithSummary("Set a workspace's governance policy: direct or approval per operation, stages, quorum, expiry, reminders, escalation (admins and the workspace's managers)");
        policies.MapDelete("", GovernanceEndpoints.ResetPolicy).Produces<PolicyResponse>(200).WithSummary("Reset a workspace's policy to the tenant default (admins and the workspace's managers)");

        var delegation = app.MapGroup("/api/v1/me/delegation").WithTags("Approvals").RequireAuthorization();
        delegation.MapGet("", GovernanceEndpoints.GetDelegation).Produces<DelegationResponse>(200).WithSummary("Your delegation (who decides approvals in your name, and when)");
        delegation.MapPost("", GovernanceEndpoints.SetDelegation).Produces<DelegationResponse>(200).WithSummary("Delegate your approvals to another user for a period (out of office)");
        delegation.MapDelete("", GovernanceEndpoints.RemoveDelegation).Produces(204).WithSummary("End your delegation");

        app.MapGet("/api/v1/trash", RetentionEndpoints.Trash).Produces<Page<TrashItem>>(200).WithSummary("List deleted documents with their purge dates (admins)").RequireAuthorization(Policies.Admin).WithTags("Retention");
        return app;
    }
}

/// <summary>The multipart form of a replace request, as the OpenAPI document describes it.</summary>
internal sealed record ReplaceForm(IFormFile File, string Reason);
