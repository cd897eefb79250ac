using System.Text.Json;
using Dapper;
using Dms.Modules.Documents.Browse;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Documents.Bulk;

/// <summary>Finds registered <see cref="IBulkAction"/>s by name (each module registers its own, scoped).</summary>
internal sealed class BulkActions(IServiceScopeFactory scopes)
{
    private IReadOnlyList<string>? _names;

    /// <summary>The registered action names, in registration order (the UI builds its action bar from them).</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            if (_names is null)
            {
                using var scope = scopes.CreateScope();
                _names = scope.ServiceProvider.GetServices<IBulkAction>().Select(a => a.Name).Distinct(StringComparer.Ordinal).ToList();
            }
            return _names;
        }
    }

    public static IBulkAction? Find(IServiceProvider services, string name) =>
        services.GetServices<IBulkAction>().FirstOrDefault(a => string.Equals(a.Name, name, StringComparison.Ordinal));
}

/// <summary>
/// <c>POST /api/v1/bulk-jobs</c>: exactly one of <paramref name="DocumentIds"/> (as sent) and <paramref name="Filter"/> (list
/// parameters by their query-string names).
/// </summary>
internal sealed record CreateBulkJob(string? Action, IReadOnlyList<string>? DocumentIds, IReadOnlyList<KeyValuePair<string, string?>>? Filter, JsonElement Params);

internal sealed record BulkJobCreated(Guid Id);

/// <summary>
/// Creates a job: checks the action and its parameters, resolves the selection to document ids as the requester (a
/// filter through the list handler, so only documents the caller can read are included), and stores them as the job's
/// items. An id the caller cannot read is stored already failed "not found": never revealed, never acted on.
/// </summary>
internal sealed class CreateBulkJobHandler(Db db, IServiceScopeFactory scopes, ListDocumentsHandler list, IOptions<DmsOptions> options, TimeProvider clock)
    : IHandler<CreateBulkJob, BulkJobCreated>
{
    public async Task<BulkJobCreated> HandleAsync(CreateBulkJob command, CurrentUser me, CancellationToken ct)
    {
        var max = options.Value.Bulk.MaxDocuments;
        if (string.IsNullOrWhiteSpace(command.Action))
        {
            throw ApiProblem.Validation("action", "action is required (addTags, removeTags, requestDelete, zip…).");
        }
        using (var scope = scopes.CreateScope())
        {
            var action = BulkActions.Find(scope.ServiceProvider, command.Action)
                ?? throw new ApiProblem(StatusCodes.Status400BadRequest, "bulk.unknown_action", $"There is no bulk action '{command.Action}'.",
                    $"Known actions: {string.Join(", ", scope.ServiceProvider.GetServices<IBulkAction>().Select(a => a.Name))}.");
            action.Validate(command.Params);
        }
        if ((command.DocumentIds is null) == (command.Filter is null))
        {
            throw ApiProblem.Validation("documentIds", "Send either documentIds or filter (one of them).");
        }

        List<Guid> ids;
        if (command.DocumentIds is { } given)
        {
            if (given.Count > max)
            {
                throw TooMany(given.Count, max, lowerBound: false);
            }
            ids = [];
            foreach (var raw in given)
            {
                ids.Add(RouteIds.Parse(raw, "documentIds"));
            }
            ids = ids.Distinct().ToList();
        }
        else
        {
            ids = await ResolveAsync(command.Filter!, me, max, ct);
        }

        var jobId = Guid.CreateVersion7();
        var now = clock.GetUtcNow().UtcDateTime;
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO bulk_jobs (tenant_id, id, action, params, status, requested_by, requester_role, requester_email, total, created_at)
                VALUES (@tenant, @jobId, @action, @params::jsonb, @status, @user, @role, @email, @total, @now)
                """, new
            {
                tenant = me.TenantId,
                jobId,
                action = command.Action,
                @params = command.Params.ValueKind == JsonValueKind.Undefined ? "{}" : command.Params.GetRawText(),
                status = BulkJobStatus.Queued.Db(),
                user = me.UserId,
                role = me.Role,
                email = me.Email,
                total = ids.Count,
                now,
            }, tx, cancellationToken: ct));
            // Items the caller cannot read (or that do not exist, or are gone) fail at once with the same words.
            await c.ExecuteAsync(new CommandDefinition($"""
                INSERT INTO bulk_job_items (tenant_id, job_id, seq, document_id, outcome, reason, code, finished_at)
                SELECT @tenant, @jobId, s.seq::int, s.id,
                       CASE WHEN readable.id IS NULL THEN {BulkOutcome.Failed.Sql()} END,
                       CASE WHEN readable.id IS NULL THEN @notFound END,
                       CASE WHEN readable.id IS NULL THEN 'document.not_found' END,
                       CASE WHEN readable.id IS NULL THEN @now END
                FROM unnest(@ids) WITH ORDINALITY AS s(id, seq)
                LEFT JOIN LATERAL (
                  SELECT d.id FROM documents d
                  WHERE d.tenant_id = @tenant AND d.id = s.id AND d.status NOT IN ({DocumentStates.Gone.Sql()})
                    AND {WorkspaceAccess.Readable("d.workspace_id")}
                ) readable ON true
                """, new { tenant = me.TenantId, jobId, ids = ids.ToArray(), notFound = BulkReasons.NotFound, now, accessUser = me.UserId, isAdmin = me.IsAdmin, accessTenant = me.TenantId },
                tx, cancellationToken: ct));
            await BulkProgress.FinishIfCompleteAsync(c, tx, me.TenantId, jobId, now, ct);
        }, ct);
        return new BulkJobCreated(jobId);
    }

    /// <summary>Pages through the list as the requester, cursor after cursor, until the end or one past the limit.</summary>
    private async Task<List<Guid>> ResolveAsync(IReadOnlyList<KeyValuePair<string, string?>> filter, CurrentUser me, int max, CancellationToken ct)
    {
        var v = new Validator();
        v.Require(!filter.Any(p => p.Key is "cursor" or "limit"), "filter", "A bulk filter selects every matching document: leave out cursor and limit.");
        v.ThrowIfInvalid();
        var query = ListDocuments.FromParameters(filter) with { Limit = 200 };
        var ids = new List<Guid>();
        var seen = new HashSet<Guid>();
        string? cursor = null;
        do
        {
            var page = await list.HandleAsync(query with { Cursor = cursor }, me, ct);
            foreach (var document in page.Items)
            {
                if (seen.Add(document.Id))
                {
                    ids.Add(document.Id);
                }
            }
            if (ids.Count > max)
            {
                throw TooMany(ids.Count, max, lowerBound: page.NextCursor is not null);
            }
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return ids;
    }

    private static ApiProblem TooMany(int count, int max, bool lowerBound) =>
        new(StatusCodes.Status400BadRequest, "bulk.too_many",
            $"A bulk job acts on at most {max:N0} documents; this selection has {(lowerBound ? "more than " : "")}{(lowerBound ? max : count):N0}.",
            "Narrow the filter or split the selection.")
        {
            Extensions = new Dictionary<string, object?> { ["count"] = count, ["countIsLowerBound"] = lowerBound, ["max"] = max },
        };
}

internal static class BulkReasons
{
    public const string NotFound = "Not found";
    public const string Canceled = "Canceled before it was reached";
}

/// <summary>Counts and the end of a job, from its items (so concurrent workers never fight over a counter row).</summary>
internal static class BulkProgress
{
    /// <summary>Moves an open job to Done when no item is left without a result.</summary>
    public static Task FinishIfCompleteAsync(Npgsql.NpgsqlConnection c, Npgsql.NpgsqlTransaction tx, Guid tenant, Guid jobId, DateTime now, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition($"""
            UPDATE bulk_jobs SET status = {BulkJobStatus.Done.Sql()}, finished_at = @now, started_at = coalesce(started_at, @now)
            WHERE tenant_id = @tenant AND id = @jobId AND status IN ({BulkJobStates.Open.Sql()})
              AND NOT EXISTS (SELECT 1 FROM bulk_job_items i WHERE i.tenant_id = @tenant AND i.job_id = @jobId AND i.outcome IS NULL)
            """, new { tenant, jobId, now }, tx, cancellationToken: ct));
}

/// <summary>One document's result as the API shows it.</summary>
internal sealed record BulkItemResponse(Guid DocumentId, string? Title, string Outcome, string? Reason, string? Code);

/// <summary>A job with its counts; <c>results</c> holds at most one page of items, <c>nextResults</c> links the next.</summary>
internal sealed record BulkJobResponse(Guid Id, string Action, string Status, int Total, int Done, int Skipped, int Failed, int Pending,
    DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt, Guid RequestedBy, string? ContentUrl, IReadOnlyList<BulkItemResponse>? Results, string? NextResults);

internal sealed record GetBulkJob(Guid Id, int? After = null, int? Limit = null, bool WithResults = true);

internal sealed record ListBulkJobs;

internal sealed record CancelBulkJob(Guid Id);

/// <summary>Reads a job: the requester's own, or any in the tenant for an admin (others get 404).</summary>
internal sealed class BulkJobQueries(Db db)
{
    internal sealed class Row
    {
        public Guid Id { get; init; }
        public string Action { get; init; } = "";
        public BulkJobStatus Status { get; init; }
        public int Total { get; init; }
        public int Done { get; init; }
        public int Skipped { get; init; }
        public int Failed { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime? StartedAt { get; init; }
        public DateTime? FinishedAt { get; init; }
        public Guid RequestedBy { get; init; }
        public string ParamsJson { get; init; } = "{}";
        public string RequesterRole { get; init; } = "";
        public string RequesterEmail { get; init; } = "";
    }

    internal static readonly string Columns = $"""
        j.id, j.action, j.status, j.total, j.created_at, j.started_at, j.finished_at, j.requested_by, j.params::text AS params_json,
        j.requester_role, j.requester_email,
        (SELECT count(*) FILTER (WHERE i.outcome = {BulkOutcome.Done.Sql()}) FROM bulk_job_items i WHERE i.tenant_id = j.tenant_id AND i.job_id = j.id)::int AS done,
        (SELECT count(*) FILTER (WHERE i.outcome = {BulkOutcome.Skipped.Sql()}) FROM bulk_job_items i WHERE i.tenant_id = j.tenant_id AND i.job_id = j.id)::int AS skipped,
        (SELECT count(*) FILTER (WHERE i.outcome = {BulkOutcome.Failed.Sql()}) FROM bulk_job_items i WHERE i.tenant_id = j.tenant_id AND i.job_id = j.id)::int AS failed
        """;

    public async Task<Row> RequireAsync(CurrentUser me, Guid id, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition($"""
            SELECT {Columns} FROM bulk_jobs j WHERE j.tenant_id = @tenant AND j.id = @id AND (@isAdmin OR j.requested_by = @user)
            """, new { tenant = me.TenantId, id, isAdmin = me.IsAdmin, user = me.UserId }, tx, cancellationToken: ct)), ct)
        ?? throw ApiProblem.NotFound("bulk_job");

    public static BulkJobResponse ToResponse(Row row, IReadOnlyList<BulkItemResponse>? results, string? next) =>
        new(row.Id, row.Action, row.Status.Api(), row.Total, row.Done, row.Skipped, row.Failed, row.Total - row.Done - row.Skipped - row.Failed,
            row.CreatedAt, row.StartedAt, row.FinishedAt, row.RequestedBy,
            row.Action == ZipBulkAction.ActionName && row.Status == BulkJobStatus.Done ? $"/api/v1/bulk-jobs/{row.Id}/content" : null, results, next);
}

internal sealed class GetBulkJobHandler(Db db, BulkJobQueries queries) : IHandler<GetBulkJob, BulkJobResponse>
{
    public const int MaxResults = 1000;

    public async Task<BulkJobResponse> HandleAsync(GetBulkJob query, CurrentUser me, CancellationToken ct)
    {
        var limit = KeysetCursor.Limit(query.Limit, @default: MaxResults, max: MaxResults);
        var row = await queries.RequireAsync(me, query.Id, ct);
        if (!query.WithResults)
        {
            return BulkJobQueries.ToResponse(row, null, null);
        }
        // Titles are shown only for documents the caller can read now; the others stay ids with their reason.
        var items = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<(int Seq, Guid DocumentId, string? Title, BulkOutcome? Outcome, string? Reason, string? Code)>(
            new CommandDefinition($"""
                SELECT i.seq, i.document_id, CASE WHEN d.id IS NOT NULL AND {WorkspaceAccess.Readable("d.workspace_id")} THEN d.title END AS title, i.outcome, i.reason, i.code
                FROM bulk_job_items i
                LEFT JOIN documents d ON d.tenant_id = i.tenant_id AND d.id = i.document_id
                WHERE i.tenant_id = @tenant AND i.job_id = @id AND i.outcome IS NOT NULL AND i.seq > @after
                ORDER BY i.seq LIMIT @take
                """, new { tenant = me.TenantId, id = query.Id, after = query.After ?? 0, take = limit + 1, accessUser = me.UserId, isAdmin = me.IsAdmin, accessTenant = me.TenantId },
                tx, cancellationToken: ct)), ct);
        var list = items.ToList();
        string? next = null;
        if (list.Count > limit)
        {
            list = list[..limit];
            next = $"/api/v1/bulk-jobs/{query.Id}?after={list[^1].Seq}&limit={limit}";
        }
        return BulkJobQueries.ToResponse(row,
            list.Select(i => new BulkItemResponse(i.DocumentId, i.Title, i.Outcome!.Value.Api(), i.Reason, i.Code)).ToList(), next);
    }
}

internal sealed class ListBulkJobsHandler(Db db) : IHandler<ListBulkJobs, IReadOnlyList<BulkJobResponse>>
{
    public async Task<IReadOnlyList<BulkJobResponse>> HandleAsync(ListBulkJobs query, CurrentUser me, CancellationToken ct)
    {
        var rows = await db.InTenantAsync(me.TenantId, (c, tx) => c.QueryAsync<BulkJobQueries.Row>(new CommandDefinition($"""
            SELECT {BulkJobQueries.Columns} FROM bulk_jobs j
            WHERE j.tenant_id = @tenant AND (@isAdmin OR j.requested_by = @user)
            ORDER BY j.created_at DESC, j.id DESC LIMIT 100
            """, new { tenant = me.TenantId, isAdmin = me.IsAdmin, user = me.UserId }, tx, cancellationToken: ct)), ct);
        return rows.Select(r => BulkJobQueries.ToResponse(r, null, null)).ToList();
    }
}

/// <summary>
/// Stops a job: items without a result and without a live lease are skipped "canceled"; items a worker holds finish
/// (each is one transaction, so none is left half done). A finished job cannot be canceled (409).
/// </summary>
internal sealed class CancelBulkJobHandler(Db db, BulkJobQueries queries, TimeProvider clock) : IHandler<CancelBulkJob, BulkJobResponse>
{
    public async Task<BulkJobResponse> HandleAsync(CancelBulkJob command, CurrentUser me, CancellationToken ct)
    {
        var row = await queries.RequireAsync(me, command.Id, ct);
        if (!BulkJobStates.CanMove(row.Status, BulkJobStatus.Canceled))
        {
            throw ApiProblem.Conflict("bulk.finished", "The job has already finished.");
        }
        var now = clock.GetUtcNow().UtcDateTime;
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var moved = await c.ExecuteAsync(new CommandDefinition($"""
                UPDATE bulk_jobs SET status = {BulkJobStatus.Canceled.Sql()}, finished_at = @now
                WHERE tenant_id = @tenant AND id = @id AND status IN ({BulkJobStates.Open.Sql()})
                """, new { tenant = me.TenantId, id = command.Id, now }, tx, cancellationToken: ct));
            if (moved == 0)
            {
                throw ApiProblem.Conflict("bulk.finished", "The job has already finished.");
            }
            await c.ExecuteAsync(new CommandDefinition($"""
                UPDATE bulk_job_items SET outcome = {BulkOutcome.Skipped.Sql()}, reason = @reason, code = 'bulk.canceled', finished_at = @now
                WHERE tenant_id = @tenant AND job_id = @id AND outcome IS NULL AND (locked_until IS NULL OR locked_until < now())
                """, new { tenant = me.TenantId, id = command.Id, now, reason = BulkReasons.Canceled }, tx, cancellationToken: ct));
        }, ct);
        return BulkJobQueries.ToResponse(await queries.RequireAsync(me, command.Id, ct), null, null);
    }
}
