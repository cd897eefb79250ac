using Dapper;
using Dms.Modules.Audit;
using Dms.Modules.Documents;
using Dms.Modules.Notifications;
using Dms.Modules.Webhooks;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Observability;
using Dms.Platform.Outbox;
using Npgsql;

namespace Dms.Modules.Approvals.Domain;

/// <summary>An approval request's state, stored by name in <c>approval_requests.status</c>.</summary>
internal enum ApprovalStatus
{
    /// <summary>Open: waiting for an admin other than the requester; its document is pending.</summary>
    Pending,

    /// <summary>Decided yes; the execution message is queued.</summary>
    Approved,

    Rejected,
    Cancelled,

    /// <summary>Nobody decided it within the pending time-to-live.</summary>
    Expired,

    /// <summary>Carried out: the document was deleted or has the new version.</summary>
    Executed,

    /// <summary>Approved but could not be carried out (or an admin gave up on it); the document is unchanged.</summary>
    Failed,
}

/// <summary>What a request asks for, stored by name in <c>approval_requests.type</c>.</summary>
internal enum ApprovalType
{
    Delete,
    Replace,
    Restore,
    LegalHoldLift,
}

/// <summary>The approval state machine: every allowed move in one place.</summary>
internal static class ApprovalStates
{
    private static readonly Dictionary<ApprovalStatus, ApprovalStatus[]> Next = new()
    {
        [ApprovalStatus.Pending] = [ApprovalStatus.Approved, ApprovalStatus.Rejected, ApprovalStatus.Cancelled, ApprovalStatus.Expired],
        // Carried out, or failed: at execution, or given up by an admin after the execution died.
        [ApprovalStatus.Approved] = [ApprovalStatus.Executed, ApprovalStatus.Failed],
        [ApprovalStatus.Rejected] = [],
        [ApprovalStatus.Cancelled] = [],
        [ApprovalStatus.Expired] = [],
        [ApprovalStatus.Executed] = [],
        [ApprovalStatus.Failed] = [],
    };

    /// <summary>Every state, in the order the API lists them.</summary>
    public static readonly ApprovalStatus[] All = Enum.GetValues<ApprovalStatus>();

    /// <summary>Every request type, in the order the API lists them.</summary>
    public static readonly ApprovalType[] Types = Enum.GetValues<ApprovalType>();

    /// <summary>States in which a request ended without being carried out: a replacement's staged file is no longer needed.</summary>
    public static readonly ApprovalStatus[] Abandoned = [ApprovalStatus.Rejected, ApprovalStatus.Cancelled, ApprovalStatus.Expired, ApprovalStatus.Failed];

    /// <summary>States in which a replacement's staged file may still become a version (the UI offers it for download).</summary>
    public static readonly ApprovalStatus[] Staging = [ApprovalStatus.Pending, ApprovalStatus.Approved];

    public static bool CanMove(ApprovalStatus from, ApprovalStatus to) => Next[from].Contains(to);

    /// <summary>The states from which <paramref name="to"/> may be reached, for a conditional <c>UPDATE … WHERE status IN (…)</c>.</summary>
    public static ApprovalStatus[] From(ApprovalStatus to) => [.. Next.Where(n => n.Value.Contains(to)).Select(n => n.Key)];

    /// <summary>A state named by a client (any case), or null when it names none. Numbers and lists are not names.</summary>
    public static ApprovalStatus? ParseStatus(string value) => All.Cast<ApprovalStatus?>().FirstOrDefault(s => s.ToString()!.Equals(value, StringComparison.OrdinalIgnoreCase));

    /// <summary>A request type named by a client (any case), or null when it names none.</summary>
    public static ApprovalType? ParseType(string value) => Types.Cast<ApprovalType?>().FirstOrDefault(t => t.ToString()!.Equals(value, StringComparison.OrdinalIgnoreCase));

    /// <summary>The request type in running text: "delete", "replace", "restore", "lift the legal hold on".</summary>
    public static string Verb(this ApprovalType type) => type switch
    {
        ApprovalType.LegalHoldLift => "lift the legal hold on",
        _ => type.ToString().ToLowerInvariant(),
    };

    /// <summary>The request type as a noun: "Delete", "Legal hold lift".</summary>
    public static string Noun(this ApprovalType type) => type switch
    {
        ApprovalType.LegalHoldLift => "Legal hold lift",
        _ => type.ToString(),
    };

    /// <summary>The operation of a workspace policy that governs requests of this type.</summary>
    public static string Operation(this ApprovalType type) => type switch
    {
        ApprovalType.Delete => Governance.GovernedOperations.Delete,
        ApprovalType.Replace => Governance.GovernedOperations.Replace,
        ApprovalType.Restore => Governance.GovernedOperations.Restore,
        _ => Governance.GovernedOperations.LegalHoldLift,
    };
}

internal sealed record ReplacementResponse(long Size, string Sha256, string ContentType, string FileName);

internal sealed record ApprovalResponse(
    Guid Id, ApprovalType Type, ApprovalStatus Status, Guid DocumentId, Guid RequestedBy, string Reason, DateTime CreatedAt, int BasedOnVersion,
    DateTime ExpiresAt, Guid? DecidedBy, DateTime? DecidedAt, string? Comment, DateTime? ExecutedAt, string? Failure,
    ReplacementResponse? Replacement, string Mode, StageInfo? Stage)
{
    /// <summary>Every vote cast, in order (one request's details only).</summary>
    public IReadOnlyList<VoteResponse>? Votes { get; init; }

    /// <summary>The policy the request was made under (one request's details only).</summary>
    public Governance.PolicySnapshot? Policy { get; init; }

    /// <summary>Who may decide the current stage (one request's details only; empty once it is decided).</summary>
    public IReadOnlyList<EligibleApprover>? EligibleApprovers { get; init; }
}

/// <summary>Where a request stands: stage <see cref="Index"/> (from 0) of <see cref="Count"/>, and its name.</summary>
internal sealed record StageInfo(int Index, int Count, string Name, int Quorum, int Approvals);

/// <summary>A vote: <see cref="UserId"/> cast it, in the name of <see cref="OnBehalfOf"/> when delegated.</summary>
internal sealed record VoteResponse(Guid UserId, string Decision, DateTime At, string? Comment, Guid? OnBehalfOf, int Stage, bool Escalation);

/// <summary>Someone who may decide the current stage (in their own name; their delegates may act for them).</summary>
internal sealed record EligibleApprover(Guid UserId, string? Email, bool Escalation, bool Voted);

/// <summary>One row of <c>approval_requests</c>.</summary>
internal sealed class ApprovalRow
{
    public Guid Id { get; init; }
    public ApprovalType Type { get; init; }
    public ApprovalStatus Status { get; init; }
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
    public Guid? WorkspaceId { get; init; }
    public string? Policy { get; init; }
    public int Stage { get; init; }
    public DateTime? StageStartedAt { get; init; }
    public int RemindersSent { get; init; }
    public DateTime? EscalatedAt { get; init; }
    public int StageApprovals { get; init; }

    private Governance.PolicySnapshot? _snapshot;

    /// <summary>The policy the request was made under.</summary>
    public Governance.PolicySnapshot Snapshot => _snapshot ??= Policy is null
        ? new Governance.PolicySnapshot(Type.Operation(), Governance.PolicyModes.Approval, [Governance.PolicyRules.AdminStage], null, [], null)
        : Governance.PolicySnapshot.Read(Policy);

    public ApprovalResponse ToResponse() => new(Id, Type, Status, DocumentId, RequestedBy, Reason, CreatedAt, BasedOnVersion, ExpiresAt,
        DecidedBy, DecidedAt, DecisionComment, ExecutedAt, Failure,
        StagedSize is { } size ? new ReplacementResponse(size, StagedSha256!, StagedContentType!, StagedFileName!) : null,
        Snapshot.Mode, CurrentStage());

    private StageInfo? CurrentStage()
    {
        var stages = Snapshot.Stages;
        if (stages.Count == 0)
        {
            return null;
        }
        var index = Math.Min(Stage, stages.Count - 1);
        return new StageInfo(index, stages.Count, stages[index].Name!, stages[index].Quorum ?? 1, StageApprovals);
    }
}

internal static class ApprovalRequests
{
    public const string Columns = """
        id, type, status, document_id, requested_by, reason, created_at, based_on_version, expires_at, decided_by, decided_at,
        decision_comment, executed_at, failure, staged_blob_key, staged_version_id, staged_size, staged_sha256, staged_content_type, staged_file_name,
        workspace_id, policy::text AS policy, stage, stage_started_at, reminders_sent, escalated_at,
        (SELECT count(*)::int FROM approval_votes v
         WHERE v.tenant_id = approval_requests.tenant_id AND v.approval_id = approval_requests.id AND v.stage = approval_requests.stage
           AND v.decision = 'Approve' AND NOT v.escalation) AS stage_approvals
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
    public static async Task<bool> CloseAsync(NpgsqlConnection c, NpgsqlTransaction tx, AuditTrail audit, Guid tenant, ApprovalRow request, ApprovalStatus status,
        Guid? decidedBy, string? comment, CancellationToken ct)
    {
        if (!await DecideAsync(c, tx, tenant, request.Id, status, decidedBy, comment, ct))
        {
            return false;
        }
        await DocumentsFacade.ReleaseAsync(c, tx, tenant, request.DocumentId, ct);
        await audit.RecordAsync(c, tx, $"approval.{status.ToString().ToLowerInvariant()}", "approval", request.Id,
            new { Type = request.Type.Db(), request.DocumentId, comment }, decidedBy is null ? AuditActor.System : null, ct);
        await DiscardStagedAsync(c, tx, tenant, request, ct);
        if (status != ApprovalStatus.Cancelled)
        {
            var rejected = status == ApprovalStatus.Rejected;
            await Notify.RequesterAsync(c, tx, tenant, request, rejected ? "approval.rejected" : "approval.expired",
                rejected ? $"Your {request.Type.Verb()} request for {Notify.Document} was rejected" : $"Your {request.Type.Verb()} request for {Notify.Document} expired",
                comment ?? "Nobody decided it in time.", ct);
        }
        return true;
    }

    /// <summary>
    /// Records a decision on a request (approved, rejected, cancelled, expired) if it may still move there, that is if it
    /// is still Pending; false when another decision came first.
    /// </summary>
    public static async Task<bool> DecideAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, ApprovalStatus status, Guid? decidedBy,
        string? comment, CancellationToken ct)
    {
        var moved = await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE approval_requests SET status = @status, decided_by = @decidedBy, decided_at = now(), decision_comment = @comment
            WHERE tenant_id = @tenant AND id = @id AND status IN ({ApprovalStates.From(status).Sql()})
            """, new { status = status.Db(), decidedBy, comment, tenant, id }, tx, cancellationToken: ct)) == 1;
        if (moved)
        {
            DmsTelemetry.Approval(status.ToString());
            if (status is ApprovalStatus.Approved or ApprovalStatus.Rejected)
            {
                await WebhookEvents.PublishAsync(c, tx, tenant, WebhookEventTypes.ApprovalDecided, id, new { decision = status.Db(), decidedBy, comment }, ct);
            }
        }
        return moved;
    }

    /// <summary>An approved request ends: Executed (now), or Failed with <paramref name="failure"/>.</summary>
    public static async Task FinishAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, ApprovalStatus status, string? failure, CancellationToken ct)
    {
        if (await c.ExecuteAsync(new CommandDefinition($"""
            UPDATE approval_requests SET status = @status, executed_at = CASE WHEN @status = {ApprovalStatus.Executed.Sql()} THEN now() END, failure = @failure
            WHERE tenant_id = @tenant AND id = @id AND status IN ({ApprovalStates.From(status).Sql()})
            """, new { status = status.Db(), failure, tenant, id }, tx, cancellationToken: ct)) == 1)
        {
            DmsTelemetry.Approval(status.ToString());
            await WebhookEvents.PublishAsync(c, tx, tenant, status == ApprovalStatus.Executed ? WebhookEventTypes.ApprovalExecuted : WebhookEventTypes.ApprovalFailed, id,
                new { failure }, ct);
        }
    }

    /// <summary>
    /// A replacement that will never be applied: its staged file is removed through the outbox, and the storage it
    /// reserved is given back now, with the decision (the reconciler would otherwise release it later).
    /// </summary>
    public static async Task DiscardStagedAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, CancellationToken ct)
    {
        if (request.Type == ApprovalType.Replace)
        {
            await Outbox.EnqueueAsync(c, tx, tenant, OutboxTypes.DiscardStaged, new ApprovalMessage(request.Id), ct);
            if (request.StagedVersionId is { } versionId)
            {
                await StorageUsage.ReleaseStagedAsync(c, tx, tenant, versionId, ct);
            }
        }
    }

    /// <summary>The document goes back to Active from PendingDelete/PendingReplace.</summary>
    public static Task ReleaseDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        DocumentsFacade.ReleaseAsync(c, tx, tenant, documentId, ct);

    public static ApiProblem NotFound() => ApiProblem.NotFound("approval");
}

internal sealed record ApprovalMessage(Guid ApprovalId);

/// <summary>The outbox message types Approvals handles (their handlers are in Execution/ and Retention/).</summary>
internal static class OutboxTypes
{
    public const string Execute = "approval.execute";
    public const string DiscardStaged = "approval.discard_staged";
    public const string Purge = "document.purge";
}

/// <summary>
/// In-app notifications about a request, sent through Notifications' outbox facade in the transaction of the event
/// they report. A title may name the document with <see cref="Document"/>: it becomes the document's title, in quotes,
/// as it is now (a notification is read later, when the document may be gone or renamed, so it must say which one it
/// was). Bodies carry what people typed (reasons, comments) and are left as they are.
/// </summary>
internal static class Notify
{
    public const string Document = "{document}";

    public static async Task AdminsAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, string kind, string title, string body, CancellationToken ct) =>
        await NotificationOutbox.ToAdminsAsync(c, tx, tenant, request.RequestedBy,
            new NotificationContent(kind, await NameDocumentAsync(c, tx, tenant, request.DocumentId, title, ct), body, request.DocumentId, request.Id), ct);

    public static async Task RequesterAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, string kind, string title, string body, CancellationToken ct) =>
        await NotificationOutbox.ToUserAsync(c, tx, tenant, request.RequestedBy,
            new NotificationContent(kind, await NameDocumentAsync(c, tx, tenant, request.DocumentId, title, ct), body, request.DocumentId, request.Id), ct);

    /// <summary>Each of <paramref name="users"/> (those still enabled when it is delivered).</summary>
    public static async Task UsersAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, ApprovalRow request, IReadOnlyList<Guid> users, string kind,
        string title, string body, CancellationToken ct)
    {
        if (users.Count == 0)
        {
            return;
        }
        var named = await NameDocumentAsync(c, tx, tenant, request.DocumentId, title, ct);
        foreach (var user in users)
        {
            await NotificationOutbox.ToUserAsync(c, tx, tenant, user, new NotificationContent(kind, named, body, request.DocumentId, request.Id), ct);
        }
    }

    private static async Task<string> NameDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, string title, CancellationToken ct)
    {
        if (!title.Contains(Document, StringComparison.Ordinal))
        {
            return title;
        }
        var name = await DocumentsFacade.TitleAsync(c, tx, tenant, documentId, ct);
        return title.Replace(Document, name is null ? "a document" : $"“{name}”", StringComparison.Ordinal);
    }
}
