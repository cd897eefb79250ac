using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Storage;

namespace Dms.Modules.Approvals.Execution;

/// <summary>
/// Carries out an approved request. Idempotent: the request row is locked and only an Approved request is
/// executed, in the same transaction that marks it Executed, so a second delivery finds it Executed and does
/// nothing. Storage trouble throws before anything commits, and the outbox retries.
/// </summary>
internal sealed class ExecuteApprovalHandler(Db db, IBlobStore blobs, AuditTrail audit, ILogger<ExecuteApprovalHandler> logger) : IOutboxHandler
{
    public string Type => OutboxTypes.Execute;

    /// <summary>An approval's messages (execute, discard its staged content) keep their order on a node (ADR 0040).</summary>
    public string? OrderKey(OutboxMessage message) => ApprovalKey(message);

    internal static string ApprovalKey(OutboxMessage message) => $"approval:{message.Read<ApprovalMessage>().ApprovalId}";

    public Task HandleAsync(OutboxMessage message, CancellationToken ct) =>
        db.InTenantAsync(message.TenantId, async (c, tx) =>
        {
            var tenant = message.TenantId;
            var request = await ApprovalRequests.GetAsync(c, tx, tenant, message.Read<ApprovalMessage>().ApprovalId, forUpdate: true, ct);
            if (request is null || request.Status != ApprovalStatus.Approved)
            {
                logger.LogInformation("Approval {ApprovalId} is {Status}: nothing to execute", request?.Id, request?.Status.ToString() ?? "gone");
                return;
            }
            var document = await DocumentsFacade.LockAsync(c, tx, tenant, request.DocumentId, ct);
            var newVersion = document.CurrentVersion + 1;

            string? failure = null;
            if (request.Type == ApprovalType.Restore)
            {
                try
                {
                    await DocumentsFacade.RestoreAsync(c, tx, tenant, request.DocumentId, request.RequestedBy, ct);
                    await audit.RecordAsync(c, tx, "document.restored", "document", request.DocumentId, new { approvalId = request.Id }, AuditActor.System, ct);
                }
                catch (ApiProblem problem)
                {
                    failure = problem.Title; // purged meanwhile, or no longer in the trash
                }
            }
            else if (request.Type == ApprovalType.LegalHoldLift)
            {
                if (await DocumentsFacade.SetLegalHoldAsync(c, tx, tenant, request.DocumentId, false, null, request.RequestedBy, ct) is null)
                {
                    failure = "The document no longer exists.";
                }
                else
                {
                    await audit.RecordAsync(c, tx, "document.legal_hold_released", "document", request.DocumentId, new { approvalId = request.Id, request.Reason },
                        AuditActor.System, ct);
                }
            }
            else if (request.Type == ApprovalType.Delete)
            {
                if (document.LegalHold)
                {
                    failure = "The document was put on legal hold after the request was approved.";
                }
                else
                {
                    await DocumentsFacade.DeleteAsync(c, tx, tenant, request.DocumentId, request.RequestedBy, ct);
                }
            }
            else if (document.CurrentVersion != request.BasedOnVersion)
            {
                failure = $"The document is at version {document.CurrentVersion}, not {request.BasedOnVersion}.";
            }
            else if (await blobs.HeadAsync(request.StagedBlobKey!, ct) is null)
            {
                failure = "The staged content is missing from storage.";
            }
            else
            {
                await DocumentsFacade.AddVersionAsync(c, tx, tenant, request.DocumentId, newVersion,
                    new NewVersion(request.StagedVersionId!.Value, request.StagedBlobKey!, request.StagedSize!.Value, request.StagedSha256!,
                        request.StagedContentType!, request.StagedFileName!),
                    request.RequestedBy, ct);
            }

            await ApprovalRequests.FinishAsync(c, tx, tenant, request.Id, failure is null ? ApprovalStatus.Executed : ApprovalStatus.Failed, failure, ct);
            await audit.RecordAsync(c, tx, failure is null ? "approval.executed" : "approval.failed", "approval", request.Id,
                new { Type = request.Type.Db(), request.DocumentId, newVersion = failure is null && request.Type == ApprovalType.Replace ? newVersion : (int?)null, failure },
                AuditActor.System, ct);
            if (failure is null)
            {
                var (title, body) = request.Type switch
                {
                    ApprovalType.Delete => ($"{Notify.Document} was deleted", "It is in the trash and can be restored by an admin."),
                    ApprovalType.Restore => ($"{Notify.Document} was restored", "It is back where it was."),
                    ApprovalType.LegalHoldLift => ($"The legal hold on {Notify.Document} was lifted", "It can be deleted and purged again."),
                    _ => ($"{Notify.Document} was replaced", $"Version {newVersion} is now current."),
                };
                await Notify.RequesterAsync(c, tx, tenant, request, "approval.executed", title, body, ct);
            }
            else
            {
                await ApprovalRequests.ReleaseDocumentAsync(c, tx, tenant, request.DocumentId, ct);
                await ApprovalRequests.DiscardStagedAsync(c, tx, tenant, request, ct);
                await Notify.RequesterAsync(c, tx, tenant, request, "approval.failed", $"Your approved request for {Notify.Document} could not be carried out", failure, ct);
                logger.LogWarning("Approval {ApprovalId} failed: {Failure}", request.Id, failure);
            }
        }, ct);
}

/// <summary>Removes the staged content of a replacement that will never be applied. Deleting twice is harmless.</summary>
internal sealed class DiscardStagedHandler(Db db, IBlobStore blobs) : IOutboxHandler
{
    public string Type => OutboxTypes.DiscardStaged;

    public string? OrderKey(OutboxMessage message) => ExecuteApprovalHandler.ApprovalKey(message);

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var request = await db.InTenantAsync(message.TenantId, (c, tx) =>
            ApprovalRequests.GetAsync(c, tx, message.TenantId, message.Read<ApprovalMessage>().ApprovalId, forUpdate: false, ct), ct);
        if (request is { StagedBlobKey: { } key } && ApprovalStates.Abandoned.Contains(request.Status))
        {
            await blobs.DeleteAsync(key, ct);
        }
    }
}
