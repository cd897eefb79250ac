using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents.Checkout;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Webhooks;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Move;

/// <summary>
/// Put a document in <paramref name="WorkspaceId"/>, in <paramref name="FolderId"/> or at the workspace's top level (null).
/// <paramref name="ExpectedVersion"/> is the row version the mover saw (null: any, as a bulk job moves).
/// </summary>
internal sealed record MoveDocument(Guid DocumentId, int? ExpectedVersion, Guid WorkspaceId, Guid? FolderId);

/// <summary>What a move did: the document as it now is, and whether anything changed (it was already there).</summary>
internal sealed record MoveResult(DocumentResponse Document, bool Moved);

/// <summary>
/// Moves a document between folders and workspaces. The mover must be able to contribute to both the workspace it leaves
/// and the one it enters; a document checked out by someone else stays where it is (423). Moving is always direct: the
/// workspace policy's <c>move</c> operation cannot require approval yet (ADR 0029), so there is nothing to govern here.
/// The conditional update on the row version makes a move and a concurrent edit from the same ETag exclusive, as edits are.
/// </summary>
internal sealed class MoveDocumentHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<MoveDocument, MoveResult>
{
    public async Task<MoveResult> HandleAsync(MoveDocument command, CurrentUser me, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var (result, current) = await db.InTenantAsync<(int, DocumentResponse?)>(me.TenantId, async (c, tx) =>
        {
            // The source first: a document the caller cannot read is not found, whatever the target.
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, command.DocumentId, WorkspaceAction.Contribute, ct);
            var from = await c.QuerySingleOrDefaultAsync<(Guid WorkspaceId, Guid? FolderId, int RowVersion)?>(new CommandDefinition($"""
                SELECT workspace_id, folder_id, row_version FROM documents
                WHERE tenant_id = @tenant AND id = @documentId AND status NOT IN ({DocumentStates.Gone.Sql()}) FOR UPDATE
                """, new { tenant = me.TenantId, command.DocumentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("document");
            if (await Checkouts.CurrentAsync(c, tx, me.TenantId, command.DocumentId, now, ct) is { } held && held.UserId != me.UserId)
            {
                throw Checkouts.Locked(held);
            }
            await WorkspaceAccess.RequireAsync(c, tx, me, command.WorkspaceId, WorkspaceAction.Contribute, "workspace", ct);
            if (command.FolderId is { } folderId)
            {
                var inTarget = await c.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM folders WHERE tenant_id = @tenant AND id = @folderId AND workspace_id = @workspaceId)",
                    new { tenant = me.TenantId, folderId, command.WorkspaceId }, tx, cancellationToken: ct));
                // The same answer whether the folder is elsewhere or nowhere: a folder in an unreadable workspace stays unknown.
                if (!inTarget)
                {
                    throw new ApiProblem(StatusCodes.Status400BadRequest, "folder.not_in_workspace", "The folder is not in the workspace the document is moved to.");
                }
            }
            if (command.ExpectedVersion is { } expected && expected != from.RowVersion)
            {
                return (0, (DocumentResponse?)null);
            }
            if (from.WorkspaceId == command.WorkspaceId && from.FolderId == command.FolderId)
            {
                return (1, await DocumentReadModel.GetAsync(c, tx, me.TenantId, command.DocumentId, ct));
            }
            await c.ExecuteAsync(new CommandDefinition("""
                UPDATE documents SET workspace_id = @workspaceId, folder_id = @folderId,
                  row_version = row_version + 1, updated_at = now(), updated_by = @user
                WHERE tenant_id = @tenant AND id = @documentId
                """, new { tenant = me.TenantId, command.DocumentId, command.WorkspaceId, command.FolderId, user = me.UserId }, tx, cancellationToken: ct));
            var moved = new
            {
                from = new { workspaceId = from.WorkspaceId, folderId = from.FolderId },
                to = new { workspaceId = command.WorkspaceId, folderId = command.FolderId },
            };
            await audit.RecordAsync(c, tx, "document.moved", "document", command.DocumentId, moved, ct: ct);
            await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.DocumentUpdated, command.DocumentId,
                new { moved.from, moved.to, updatedBy = me.UserId }, ct);
            return (2, await DocumentReadModel.GetAsync(c, tx, me.TenantId, command.DocumentId, ct));
        }, ct);

        if (result == 0)
        {
            var document = await db.InTenantAsync(me.TenantId, (c, tx) => DocumentReadModel.GetAsync(c, tx, me.TenantId, command.DocumentId, ct), ct);
            throw new ApiProblem(StatusCodes.Status412PreconditionFailed, "document.precondition_failed",
                "The document was changed by someone else since you read it: fetch it again and move it again.",
                document is null ? null : $"Current ETag is {document.ETag()}.");
        }
        return new MoveResult(current!, result == 2);
    }
}
