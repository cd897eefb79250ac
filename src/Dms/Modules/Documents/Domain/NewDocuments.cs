using Dapper;
using Dms.Modules.Webhooks;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>A document to create with its first version, whose content is already stored.</summary>
internal sealed record NewDocument(Guid Id, Guid WorkspaceId, Guid? FolderId, string Title, string? Description, string[] Tags, StagedContent Content)
{
    /// <summary>Its type and checked field values (none unless the upload named a type).</summary>
    public Types.TypedFields Typed { get; init; } = Types.TypedFields.None;
}

/// <summary>Writes a new document and its version 1, in the caller's transaction (both upload paths end here).</summary>
internal static class NewDocuments
{
    public static async Task InsertAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, NewDocument document, CancellationToken ct)
    {
        // What does not refer to the new rows goes first. The version insert's trigger updates the tenant's storage counter
        // row, which every other upload of the tenant then waits for until this transaction commits: each round trip after
        // it is paid by all of them (docs/performance.md, "Write path: where the time goes").
        await VersionProcessing.EnqueueAsync(c, tx, me.TenantId, document.Id, 1, ct);
        await WebhookEvents.PublishAsync(c, tx, me.TenantId, WebhookEventTypes.DocumentCreated, document.Id,
            new { document.Title, document.WorkspaceId, document.FolderId, version = 1, createdBy = me.UserId }, ct);
        // One round trip for the rows, the version's Pending text row (VersionProcessing.QueueAsync's) included.
        await c.ExecuteAsync(new CommandDefinition("""
            INSERT INTO documents (id, tenant_id, workspace_id, folder_id, title, description, tags, current_version, content_family, created_by, updated_by, type_id, fields)
            VALUES (@DocumentId, @Tenant, @WorkspaceId, @FolderId, @Title, @Description, @Tags, 1, document_content_family(@ContentType), @UserId, @UserId, @TypeId, @Fields::jsonb);
            INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_by)
            VALUES (@VersionId, @Tenant, @DocumentId, 1, @BlobKey, @Size, @Sha256, @ContentType, @FileName, @UserId);
            INSERT INTO version_texts (tenant_id, document_id, version_number) VALUES (@Tenant, @DocumentId, 1) ON CONFLICT DO NOTHING;
            """,
            new
            {
                DocumentId = document.Id,
                document.Content.VersionId,
                Tenant = me.TenantId,
                document.WorkspaceId,
                document.FolderId,
                document.Title,
                document.Description,
                document.Tags,
                me.UserId,
                document.Content.BlobKey,
                document.Content.Size,
                document.Content.Sha256,
                document.Content.ContentType,
                document.Content.FileName,
                document.Typed.TypeId,
                document.Typed.Fields,
            }, tx, cancellationToken: ct));
    }
}
