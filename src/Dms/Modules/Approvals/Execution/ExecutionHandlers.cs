using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
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

    public Task HandleAsync(OutboxMessage message, CancellationToken ct) =>
        db.InTenantAsync(message.TenantId, async (c, tx) =>
        {
            var tenant = message.TenantId;
            var request = await ApprovalRequests.GetAsync(c, tx, tenant, message.Read<ApprovalMessage>().ApprovalId, forUpdate: true, ct);
            if (request is null || request.Status != ApprovalStatus.Approved)
            {
                logger.LogInformation("Approval {ApprovalId} is {Status}: nothing to execute", request?.Id, request?.Status ?? "gone");
                return;
            }
            var document = await c.QuerySingleAsync<(int CurrentVersion, bool LegalHold)>(new CommandDefinition(
                "SELECT current_version, legal_hold FROM documents WHERE tenant_id = @tenant AND id = @id FOR UPDATE",
                new { tenant, id = request.DocumentId }, tx, cancellationToken: ct));

            string? failure = null;
            if (request.Type == ApprovalType.Delete)
            {
                if (document.LegalHold)
                {
                    failure = "The document was put on legal hold after the request was approved.";
                }
                else
                {
                    await c.ExecuteAsync(new CommandDefinition("""
                        UPDATE documents SET status = 'Deleted', deleted_at = now(), deleted_by = @by, row_version = row_version + 1, updated_at = now()
                        WHERE tenant_id = @tenant AND id = @id
                        """, new { tenant, id = request.DocumentId, by = request.RequestedBy }, tx, cancellationToken: ct));
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
                await c.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
                    VALUES (@versionId, @tenant, @documentId, @number, @key, @size, @sha256, @contentType, @fileName, @by);
                    UPDATE documents SET current_version = @number, status = 'Active', row_version = row_version + 1, updated_at = now(), updated_by = @by
                    WHERE tenant_id = @tenant AND id = @documentId;
                    """,
                    new
                    {
                        versionId = request.StagedVersionId,
                        tenant,
                        documentId = request.DocumentId,
                        number = document.CurrentVersion + 1,
                        key = request.StagedBlobKey,
                        size = request.StagedSize,
                        sha256 = request.StagedSha256,
                        contentType = request.StagedContentType,
                        fileName = request.StagedFileName,
                        by = request.RequestedBy,
                    }, tx, cancellationToken: ct));
            }

            await c.ExecuteAsync(new CommandDefinition("""
                UPDATE approval_requests SET status = @status, executed_at = CASE WHEN @status = 'Executed' THEN now() END, failure = @failure
                WHERE tenant_id = @tenant AND id = @id
                """, new { status = failure is null ? ApprovalStatus.Executed : ApprovalStatus.Failed, failure, tenant, id = request.Id }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, failure is null ? "approval.executed" : "approval.failed", "approval", request.Id,
                new { request.Type, request.DocumentId, newVersion = failure is null && request.Type == ApprovalType.Replace ? document.CurrentVersion + 1 : (int?)null, failure },
                AuditActor.System, ct);
            if (failure is null)
            {
                await Notify.RequesterAsync(c, tx, tenant, request, "approval.executed",
                    request.Type == ApprovalType.Delete ? $"{Notify.Document} was deleted" : $"{Notify.Document} was replaced",
                    request.Type == ApprovalType.Delete ? "It is in the trash and can be restored by an admin." : $"Version {document.CurrentVersion + 1} is now current.", ct);
            }
            else
            {
                await ApprovalRequests.ReleaseDocumentAsync(c, tx, tenant, request.DocumentId, ct);
                if (request.Type == ApprovalType.Replace)
                {
                    await Outbox.EnqueueAsync(c, tx, tenant, OutboxTypes.DiscardStaged, new ApprovalMessage(request.Id), ct);
                }
                await Notify.RequesterAsync(c, tx, tenant, request, "approval.failed", $"Your approved request for {Notify.Document} could not be carried out", failure, ct);
                logger.LogWarning("Approval {ApprovalId} failed: {Failure}", request.Id, failure);
            }
        }, ct);
}

/// <summary>Removes the staged content of a replacement that will never be applied. Deleting twice is harmless.</summary>
internal sealed class DiscardStagedHandler(Db db, IBlobStore blobs) : IOutboxHandler
{
    public string Type => OutboxTypes.DiscardStaged;

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        var request = await db.InTenantAsync(message.TenantId, (c, tx) =>
            ApprovalRequests.GetAsync(c, tx, message.TenantId, message.Read<ApprovalMessage>().ApprovalId, forUpdate: false, ct), ct);
        if (request is { StagedBlobKey: { } key, Status: ApprovalStatus.Rejected or ApprovalStatus.Cancelled or ApprovalStatus.Expired or ApprovalStatus.Failed })
        {
            await blobs.DeleteAsync(key, ct);
        }
    }
}
