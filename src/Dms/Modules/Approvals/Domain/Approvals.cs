using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Npgsql;

namespace Dms.Modules.Approvals.Domain;

internal static class ApprovalStatus
{
    public const string Pending = "Pending";
    public const string Approved = "Approved";
    public const string Rejected = "Rejected";
    public const string Cancelled = "Cancelled";
    public const string Expired = "Expired";
    public const string Executed = "Executed";
    public const string Failed = "Failed";

    public static readonly string[] All = [Pending, Approved, Rejected, Cancelled, Expired, Executed, Failed];
}

internal static class ApprovalType
{
    public const string Delete = "Delete";
    public const string Replace = "Replace";

    public static readonly string[] All = [Delete, Replace];
}

internal sealed record ReplacementResponse(long Size, string Sha256, string ContentType, string FileName);

internal sealed record ApprovalResponse(
    Guid Id, string Type, string Status, Guid DocumentId, Guid RequestedBy, string Reason, DateTime CreatedAt, int BasedOnVersion,
    DateTime ExpiresAt, Guid? DecidedBy, DateTime? DecidedAt, string? Comment, DateTime? ExecutedAt, string? Failure,
    ReplacementResponse? Replacement);

/// <summary>One row of <c>approval_requests</c>.</summary>
internal sealed class ApprovalRow
{
    public Guid Id { get; init; }
    public string Type { get; init; } = "";
    public string Status { get; init; } = "";
    public Guid DocumentId { get; init; }
    public Guid RequestedBy { get; init; }
    public string Reason { get; init; } = "";
    public DateTime CreatedAt { get; init; }
    public int BasedOnVersion { get; init; }
    public DateTime ExpiresAt { get; init; }
    public Guid? DecidedBy { get; init; }
    public DateTime? DecidedAt { get; init; }
    public string? DecisionComment { get; init; }
    public DateTime? ExecutedAt { get; init; }
    public string? Failure { get; init; }
    public string? StagedBlobKey { get; init; }
    public Guid? StagedVersionId { get; init; }
    public long? StagedSize { get; init; }
    public string? StagedSha256 { get; init; }
    public string? StagedContentType { get; init; }
    public string? StagedFileName { get; init; }

    public ApprovalResponse ToResponse() => new(Id, Type, Status, DocumentId, RequestedBy, Reason, CreatedAt, BasedOnVersion, ExpiresAt,
        DecidedBy, DecidedAt, DecisionComment, ExecutedAt, Failure,
        StagedSize is { } size ? new ReplacementResponse(size, StagedSha256!, StagedContentType!, StagedFileName!) : null);
}

internal static class ApprovalRequests
{
    public const string Columns = """
        id, type, status, document_id, requested_by, reason, created_at, based_on_version, expires_at, decided_by, decided_at,
        decision_comment, executed_at, failure, staged_blob_key, staged_version_id, staged_size, staged_sha256, staged_content_type, staged_file_name
        """;

    public static Task<ApprovalRow?> GetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, bool forUpdate, CancellationToken ct) =>
        c.QuerySingleOrDefaultAsync<ApprovalRow>(new CommandDefinition(
            $"SELECT {Columns} FROM approval_requests WHERE tenant_id = @tenant AND id = @id{(forUpdate ? " FOR UPDATE" : "")}",
            new { tenant, id }, tx, cancellationToken: ct));

    /// <summary>
    /// Ends an open request without executing it (reject, cancel, expire): the document leaves its pending
    /// state, a replacement's staged content is discarded and the requester is told, all through the outbox.
    /// The conditional update makes this the only outcome of the request.
    /// </summary>
    public static async Task<bool> CloseAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditTrail audit, Guid tenant, ApprovalRow request, string status,
        Guid? decidedBy, string? comment, CancellationToken ct)
    {
        var closed = await c.ExecuteAsync(new CommandDefinition("""
            UPDATE approval_requests SET status = @status, decided_by = @decidedBy, decided_at = now(), decision_comment = @comment
            WHERE tenant_id = @tenant AND id = @id AND status = 'Pending'
            """, new { status, decidedBy, comment, tenant, id = request.Id }, tx, cancellationToken: ct));
        if (closed == 0)
        {
            return false;
        }
        await ReleaseDocumentAsync(c, tx, tenant, request.DocumentId, ct);
        await audit.RecordAsync(c, tx, $"approval.{status.ToLowerInvariant()}", "approval", request.Id,
            new { request.Type, request.DocumentId, comment }, decidedBy is null ? AuditActor.System : null, ct);
        if (request.Type == ApprovalType.Replace)
        {
            await Outbox.EnqueueAsync(c, tx, tenant, OutboxTypes.DiscardStaged, new ApprovalMessage(request.Id), ct);
        }
        if (status != ApprovalStatus.Cancelled)
        {
            await Notify.RequesterAsync(c, tx, tenant, request, status == ApprovalStatus.Rejected ? "approval.rejected" : "approval.expired",
                status == ApprovalStatus.Rejected ? $"Your {request.Type.ToLowerInvariant()} request for {Notify.Document} was rejected" : $"Your {request.Type.ToLowerInvariant()} request for {Notify.Document} expired",
                comment ?? "Nobody decided it in time.", ct);
        }
        return true;
    }

    /// <summary>The document goes back to Active from PendingDelete/PendingReplace.</summary>
    public static Task ReleaseDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            UPDATE documents SET status = 'Active', row_version = row_version + 1, updated_at = now()
            WHERE tenant_id = @tenant AND id = @documentId AND status IN ('PendingDelete', 'PendingReplace')
            """, new { tenant, documentId }, tx, cancellationToken: ct));

    public static ApiProblem NotFound() => ApiProblem.NotFound("approval");
}

internal sealed record ApprovalMessage(Guid ApprovalId);

internal static class OutboxTypes
{
    public const string Execute = "approval.execute";
    public const string DiscardStaged = "approval.discard_staged";
    public const string Notify = "notification.send";
    public const string Purge = "document.purge";
}

/// <summary>
/// In-app notifications, queued through the outbox in the transaction of the event they report. A title may name
/// the document with <see cref="Document"/>: it becomes the document's title, in quotes, as it is now (a
/// notification is read later, when the document may be gone or renamed, so it must say which one it was). Bodies
/// carry what people typed (reasons, comments) and are left as they are.
/// </summary>
internal static class Notify
{
    public const string Document = "{document}";

    public sealed record Payload(string Kind, string Audience, Guid? UserId, Guid? ExceptUserId, Guid? ApprovalId, Guid? DocumentId, string Title, string Body);

    public static async Task AdminsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, string kind, string title, string body, CancellationToken ct)
    {
        await Outbox.EnqueueAsync(c, tx, tenant, OutboxTypes.Notify,
            new Payload(kind, "admins", null, request.RequestedBy, request.Id, request.DocumentId, await NameDocumentAsync(c, tx, tenant, request.DocumentId, title, ct), body), ct);
    }

    public static async Task RequesterAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, string kind, string title, string body, CancellationToken ct)
    {
        await Outbox.EnqueueAsync(c, tx, tenant, OutboxTypes.Notify,
            new Payload(kind, "user", request.RequestedBy, null, request.Id, request.DocumentId, await NameDocumentAsync(c, tx, tenant, request.DocumentId, title, ct), body), ct);
    }

    private static async Task<string> NameDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, string title, CancellationToken ct)
    {
        if (!title.Contains(Document, StringComparison.Ordinal))
        {
            return title;
        }
        var name = await c.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT title FROM documents WHERE tenant_id = @tenant AND id = @documentId", new { tenant, documentId }, tx, cancellationToken: ct));
        return title.Replace(Document, name is null ? "a document" : $"“{name}”", StringComparison.Ordinal);
    }
}
