using Dapper;
using Dms.Modules.Approvals.Delegation;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Documents;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Approvals.Queries;

/// <summary>
/// Approval requests, newest first: admins see the tenant's queue, others their own requests. Filters name a
/// status or type in any case.
/// </summary>
internal sealed record ListApprovals(string? Status, string? Type, int? Limit, string? Cursor, bool AwaitingMe = false);

internal sealed class ListApprovalsHandler(Db db, TimeProvider clock) : IHandler<ListApprovals, Page<ApprovalResponse>>
{
    public Task<Page<ApprovalResponse>> HandleAsync(ListApprovals query, CurrentUser me, CancellationToken ct)
    {
        var filter = Filter.From(query);
        // Read-only: on the read replica when a GET may read there (ADR 0035).
        return db.ReadTransactionInTenantAsync(me.TenantId, (c, tx) => ListAsync(c, tx, me, filter, clock.GetUtcNow().UtcDateTime, ct), ct);
    }

    internal sealed record Filter(ApprovalStatus? Status, ApprovalType? Type, int Take, KeysetCursor? After, bool AwaitingMe = false)
    {
        public static Filter From(ListApprovals query)
        {
            var status = query.Status is null ? null : ApprovalStates.ParseStatus(query.Status);
            var type = query.Type is null ? null : ApprovalStates.ParseType(query.Type);
            new Validator()
                .Require(query.Status is null || status is not null, "status", $"status is one of {string.Join(", ", ApprovalStates.All)}.")
                .Require(query.Type is null || type is not null, "type", $"type is one of {string.Join(", ", ApprovalStates.Types)}.")
                .ThrowIfInvalid();
            return new Filter(status, type, KeysetCursor.Limit(query.Limit), KeysetCursor.Decode(query.Cursor), query.AwaitingMe);
        }
    }

    /// <summary>
    /// The queue's query (QueryPlanTests explains it as the runtime role): admins see every request; others their own and
    /// those they were asked to decide (in their name or, bound in <c>@actingFor</c>, in the name of whoever delegated to
    /// them). <c>@awaiting</c> keeps only the pending requests whose current stage waits for their vote. One branch per
    /// kind of visibility, each on its own index (an OR across them walked the whole queue for a member); the assigned
    /// requests are found from the caller's assignments, by primary key.
    /// </summary>
    internal static readonly string ListSql = $"""
        SELECT * FROM (
          (SELECT {ApprovalRequests.Columns} FROM approval_requests
           WHERE tenant_id = @tenant AND requested_by = @user AND NOT @awaiting AND {Filters}
           ORDER BY created_at DESC, id DESC LIMIT @take)
          UNION
          (SELECT {ApprovalRequests.Columns} FROM approval_requests
           WHERE tenant_id = @tenant AND {Filters}
             AND id = ANY(ARRAY(SELECT a.approval_id FROM approval_assignees a WHERE a.tenant_id = @tenant AND a.user_id = ANY(@actingFor)))
             AND (NOT @awaiting OR (status = {ApprovalStatus.Pending.Sql()}
                  AND EXISTS (SELECT 1 FROM approval_assignees a
                              WHERE a.tenant_id = @tenant AND a.approval_id = approval_requests.id AND a.stage = approval_requests.stage
                                AND a.user_id = ANY(@actingFor)
                                AND NOT EXISTS (SELECT 1 FROM approval_votes v
                                                WHERE v.tenant_id = a.tenant_id AND v.approval_id = a.approval_id AND v.user_id = a.user_id))))
           ORDER BY created_at DESC, id DESC LIMIT @take)
        ) AS visible
        ORDER BY created_at DESC, id DESC
        LIMIT @take
        """;

    /// <summary>The admins' queue: every request of the tenant (QueryPlanTests explains it as the runtime role).</summary>
    internal static readonly string AdminListSql = $"""
        SELECT {ApprovalRequests.Columns} FROM approval_requests
        WHERE tenant_id = @tenant AND {Filters}
        ORDER BY created_at DESC, id DESC
        LIMIT @take
        """;

    /// <summary>The list filters, the same in each branch of <see cref="ListSql"/> (each branch walks its own index).</summary>
    private const string Filters = """
        (@status::text IS NULL OR status = @status)
             AND (@type::text IS NULL OR type = @type)
             AND (@afterAt::timestamptz IS NULL OR (created_at, id) < (@afterAt, @afterId))
        """;

    internal static async Task<Page<ApprovalResponse>> ListAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Filter filter, DateTime now,
        CancellationToken ct)
    {
        Guid[] actingFor = [me.UserId, .. await Delegations.DelegatorsOfAsync(c, tx, me.TenantId, me.UserId, now, ct)];
        var rows = (await c.QueryAsync<ApprovalRow>(new CommandDefinition(me.IsAdmin && !filter.AwaitingMe ? AdminListSql : ListSql,
            new
            {
                tenant = me.TenantId,
                user = me.UserId,
                actingFor,
                awaiting = filter.AwaitingMe,
                status = filter.Status?.Db(),
                type = filter.Type?.Db(),
                afterAt = filter.After?.CreatedAt,
                afterId = filter.After?.Id ?? Guid.Empty,
                take = filter.Take + 1,
            }, tx, cancellationToken: ct))).ToList();
        var items = rows.Take(filter.Take).Select(r => r.ToResponse()).ToList();
        var next = rows.Count > filter.Take ? new KeysetCursor(items[^1].CreatedAt, items[^1].Id).Encode() : null;
        return new Page<ApprovalResponse>(items, next);
    }
}

/// <summary>
/// The approvals page: a page of requests as <see cref="ListApprovals"/> gives it, with the documents they are about
/// (title and current file), read in the same transaction in one query. A document that is deleted or out of the
/// caller's reach is absent: its requests still show, without its details.
/// </summary>
internal sealed record ApprovalInbox(string? Status, int? Limit, string? Cursor, bool AwaitingMe = false);

internal sealed record ApprovalInboxView(Page<ApprovalResponse> Requests, IReadOnlyDictionary<Guid, DocumentSummary> Documents)
{
    /// <summary>The requests with their votes and current approvers (the page shows stages and who still decides).</summary>
    public IReadOnlyDictionary<Guid, ApprovalResponse> Details { get; init; } = new Dictionary<Guid, ApprovalResponse>();
}

internal sealed class ApprovalInboxHandler(Db db, TimeProvider clock) : IHandler<ApprovalInbox, ApprovalInboxView>
{
    public Task<ApprovalInboxView> HandleAsync(ApprovalInbox query, CurrentUser me, CancellationToken ct)
    {
        var filter = ListApprovalsHandler.Filter.From(new ListApprovals(query.Status, null, query.Limit, query.Cursor, query.AwaitingMe));
        return db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var requests = await ListApprovalsHandler.ListAsync(c, tx, me, filter, clock.GetUtcNow().UtcDateTime, ct);
            var documents = await DocumentsFacade.ReadableSummariesAsync(c, tx, me, requests.Items.Select(r => r.DocumentId).Distinct().ToList(), ct);
            return new ApprovalInboxView(requests, documents) { Details = await Ballots.DetailsAsync(c, tx, me.TenantId, requests.Items, ct) };
        }, ct);
    }
}

/// <summary>
/// One request with its votes, its policy snapshot and who may decide its current stage: for admins, the requester, its
/// approvers and their delegates; 404 for everyone else.
/// </summary>
internal sealed record GetApproval(Guid ApprovalId);

internal sealed class GetApprovalHandler(Db db, TimeProvider clock) : IHandler<GetApproval, ApprovalResponse>
{
    public Task<ApprovalResponse> HandleAsync(GetApproval query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var request = await ApprovalRequests.GetAsync(c, tx, me.TenantId, query.ApprovalId, forUpdate: false, ct);
            return request is null || !await Ballots.CanSeeAsync(c, tx, me, request, clock.GetUtcNow().UtcDateTime, ct)
                ? throw ApprovalRequests.NotFound()
                : await Ballots.DetailsAsync(c, tx, me.TenantId, request, ct);
        }, ct);
}

/// <summary>A document's requests, newest first, for whoever may read the document; kept after it is deleted and purged.</summary>
internal sealed record ApprovalHistory(Guid DocumentId);

internal sealed class ApprovalHistoryHandler(Db db) : IHandler<ApprovalHistory, IReadOnlyList<ApprovalResponse>>
{
    internal static readonly string HistorySql =
        $"SELECT {ApprovalRequests.Columns} FROM approval_requests WHERE tenant_id = @tenant AND document_id = @documentId ORDER BY created_at DESC, id DESC";

    public async Task<IReadOnlyList<ApprovalResponse>> HandleAsync(ApprovalHistory query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await WorkspaceAccess.RequireForDocumentAsync(c, tx, me, query.DocumentId, WorkspaceAction.Read, ct);
            return await DocumentsFacade.ExistsAsync(c, tx, me.TenantId, query.DocumentId, ct)
                ? (await c.QueryAsync<ApprovalRow>(new CommandDefinition(HistorySql,
                    new { tenant = me.TenantId, documentId = query.DocumentId }, tx, cancellationToken: ct))).Select(r => r.ToResponse()).ToList()
                : null;
        }, ct) ?? throw ApiProblem.NotFound("document");
}
