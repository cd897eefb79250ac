using System.Security.Claims;
using System.Text.Json;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.Bulk;

/// <summary>
/// An action that can apply one document's step inside a transaction it is given: the engine records the item's result
/// in the same transaction, so the change and its result commit together or not at all (never applied twice).
/// Actions that go through another module's handler (which opens its own transaction) are plain <see cref="IBulkAction"/>s
/// and must be idempotent instead (a second try finds the work done and answers skipped).
/// </summary>
internal interface ITransactionalBulkAction : IBulkAction
{
    Task<BulkItemResult> ApplyInAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct);
}

/// <summary>
/// Takes leased batches of items (<c>bulk_claim</c>) and applies the job's action to each as the job's requester. An
/// unexpected error leaves the item for a later try (its lease is released); after <see cref="BulkOptions.MaxAttempts"/>
/// it is reported failed. A worker that dies leaves its lease to lapse, and another worker takes the items over.
/// </summary>
internal sealed class BulkRunner(TenantDatabases databases, Db db, IServiceScopeFactory scopes, IHttpContextAccessor http, IOptions<DmsOptions> options,
    TimeProvider clock, ILogger<BulkRunner> logger)
{
    private readonly string _node = $"{Environment.MachineName}:{Environment.ProcessId}:bulk:{Guid.NewGuid():N}";
    private BulkOptions Settings => options.Value.Bulk;

    internal sealed record Claimed(Guid TenantId, Guid JobId, int Seq, Guid DocumentId);

    private sealed class Job
    {
        public string Action { get; init; } = "";
        public string ParamsJson { get; init; } = "{}";
        public Guid RequestedBy { get; init; }
        public string RequesterRole { get; init; } = "";
        public string RequesterEmail { get; init; } = "";
    }

    private sealed class LeaseLostException : Exception;

    /// <summary>Claims and works one batch; returns how many items it took (0: nothing to do).</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        List<Claimed> claimed = [];
        // Every database that holds tenants (ADR 0036), until one has work; the main one leaves moved tenants alone.
        foreach (var dataSource in await databases.AllAsync(ct))
        {
            await using var conn = await dataSource.OpenConnectionAsync(ct);
            claimed = (await conn.QueryAsync<Claimed>(new CommandDefinition(
                "SELECT tenant_id, job_id, seq, document_id FROM bulk_claim(@node, @batch, @lease)",
                new { node = _node, batch = Math.Clamp(Settings.BatchSize, 1, 1000), lease = Settings.Lease }, cancellationToken: ct))).ToList();
            if (claimed.Count > 0)
            {
                break;
            }
        }
        if (claimed.Count == 0)
        {
            return 0;
        }
        var tenant = claimed[0].TenantId;
        var jobId = claimed[0].JobId;
        var job = await db.InTenantAsync(tenant, (c, tx) => c.QuerySingleAsync<Job>(new CommandDefinition("""
            SELECT action, params::text AS params_json, requested_by, requester_role, requester_email FROM bulk_jobs WHERE tenant_id = @tenant AND id = @jobId
            """, new { tenant, jobId }, tx, cancellationToken: ct)), ct);
        var requester = new CurrentUser(job.RequestedBy, tenant, job.RequesterRole, job.RequesterEmail);
        using var parameters = JsonDocument.Parse(job.ParamsJson);
        using var scope = scopes.CreateScope();
        var action = BulkActions.Find(scope.ServiceProvider, job.Action);
        // Handlers that record audit events read the actor from the current request; the job acts as its requester.
        var previous = http.HttpContext;
        http.HttpContext = RequesterContext(requester, scope.ServiceProvider);
        try
        {
            foreach (var item in claimed)
            {
                ct.ThrowIfCancellationRequested();
                await WorkAsync(item, action, requester, parameters.RootElement, ct);
            }
        }
        finally
        {
            http.HttpContext = previous;
        }
        await db.InTenantAsync(tenant, (c, tx) => BulkProgress.FinishIfCompleteAsync(c, tx, tenant, jobId, clock.GetUtcNow().UtcDateTime, ct), ct);
        return claimed.Count;
    }

    private async Task WorkAsync(Claimed item, IBulkAction? action, CurrentUser requester, JsonElement parameters, CancellationToken ct)
    {
        try
        {
            if (action is null)
            {
                await RecordAsync(item, BulkOutcome.Failed, "This action is not available on the server any more", "bulk.unknown_action", ct);
                return;
            }
            if (action is ITransactionalBulkAction inTransaction)
            {
                await db.InTenantAsync(item.TenantId, async (c, tx) =>
                {
                    var result = await inTransaction.ApplyInAsync(c, tx, requester, item.DocumentId, parameters, ct);
                    if (!await RecordInAsync(c, tx, item, Outcome(result), result.Reason, null, ct))
                    {
                        throw new LeaseLostException(); // rolls the change back: the worker that holds the item now records it
                    }
                }, ct);
            }
            else
            {
                var result = await action.ApplyAsync(requester, item.DocumentId, parameters, ct);
                await RecordAsync(item, Outcome(result), result.Reason, null, ct);
            }
        }
        catch (ApiProblem problem)
        {
            await RecordAsync(item, BulkOutcome.Failed, ReasonOf(problem), problem.Code, ct);
        }
        catch (LeaseLostException)
        {
            logger.LogInformation("Bulk item {JobId}/{Seq} was taken over by another worker after its lease lapsed", item.JobId, item.Seq);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Bulk item {JobId}/{Seq} failed unexpectedly; it will be tried again", item.JobId, item.Seq);
            await ReleaseOrGiveUpAsync(item, ct);
        }
    }

    private static BulkOutcome Outcome(BulkItemResult result) => result.Outcome == BulkItemOutcome.Done ? BulkOutcome.Done : BulkOutcome.Skipped;

    /// <summary>The reason a person reads on the job page.</summary>
    internal static string ReasonOf(ApiProblem problem) => problem switch
    {
        { Status: StatusCodes.Status404NotFound } => BulkReasons.NotFound,
        { Code: "workspace.forbidden" } => "You can't edit this document",
        _ => problem.Detail is { Length: > 0 } detail && problem.Status == StatusCodes.Status400BadRequest ? $"{problem.Title} {detail}" : problem.Title,
    };

    private async Task RecordAsync(Claimed item, BulkOutcome outcome, string? reason, string? code, CancellationToken ct)
    {
        var recorded = await db.InTenantAsync(item.TenantId, (c, tx) => RecordInAsync(c, tx, item, outcome, reason, code, ct), ct);
        if (!recorded)
        {
            logger.LogInformation("Bulk item {JobId}/{Seq} already had its result or another worker holds it", item.JobId, item.Seq);
        }
    }

    /// <summary>Records the result if this worker still holds the item and it has none yet.</summary>
    private async Task<bool> RecordInAsync(NpgsqlConnection c, NpgsqlTransaction tx, Claimed item, BulkOutcome outcome, string? reason, string? code, CancellationToken ct) =>
        await c.ExecuteAsync(new CommandDefinition("""
            UPDATE bulk_job_items SET outcome = @outcome, reason = @reason, code = @code, finished_at = @now, locked_by = NULL, locked_until = NULL
            WHERE tenant_id = @tenant AND job_id = @jobId AND seq = @seq AND outcome IS NULL AND locked_by = @node
            """, new { outcome = outcome.Db(), reason, code, now = clock.GetUtcNow().UtcDateTime, tenant = item.TenantId, jobId = item.JobId, seq = item.Seq, node = _node },
            tx, cancellationToken: ct)) == 1;

    private async Task ReleaseOrGiveUpAsync(Claimed item, CancellationToken ct)
    {
        try
        {
            await db.InTenantAsync(item.TenantId, (c, tx) => c.ExecuteAsync(new CommandDefinition($"""
                UPDATE bulk_job_items SET
                  outcome = CASE WHEN attempts >= @max THEN {BulkOutcome.Failed.Sql()} END,
                  reason = CASE WHEN attempts >= @max THEN 'Could not be applied (an error on the server)' END,
                  code = CASE WHEN attempts >= @max THEN 'bulk.error' END,
                  finished_at = CASE WHEN attempts >= @max THEN @now END,
                  locked_by = NULL, locked_until = NULL
                WHERE tenant_id = @tenant AND job_id = @jobId AND seq = @seq AND outcome IS NULL AND locked_by = @node
                """, new { max = Settings.MaxAttempts, now = clock.GetUtcNow().UtcDateTime, tenant = item.TenantId, jobId = item.JobId, seq = item.Seq, node = _node },
                tx, cancellationToken: ct)), ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Bulk item {JobId}/{Seq} could not be released; its lease will lapse", item.JobId, item.Seq);
        }
    }

    private static DefaultHttpContext RequesterContext(CurrentUser requester, IServiceProvider services)
    {
        var identity = new ClaimsIdentity(
        [
            new Claim(DmsClaims.Subject, requester.UserId.ToString()),
            new Claim(DmsClaims.Tenant, requester.TenantId.ToString()),
            new Claim(DmsClaims.Role, requester.Role),
            new Claim(DmsClaims.Email, requester.Email),
        ], authenticationType: "bulk-job", DmsClaims.Email, DmsClaims.Role);
        return new DefaultHttpContext { User = new ClaimsPrincipal(identity), RequestServices = services };
    }
}

/// <summary>Runs <see cref="BulkRunner"/> on worker nodes until stopped.</summary>
internal sealed class BulkWorker(BulkRunner runner, IOptions<DmsOptions> options, ILogger<BulkWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await runner.RunOnceAsync(stoppingToken) == 0)
                {
                    await Task.Delay(options.Value.Bulk.PollInterval, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Bulk worker pass failed (database unreachable?); retrying");
                try
                {
                    await Task.Delay(options.Value.Bulk.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }
}
