using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Where a read-only query runs (issue 18, item 2; ADR 0035). With a streaming replica configured
/// (<c>ConnectionStrings__DmsReplica</c>), a read made while serving a GET or HEAD request of a tenant in the main database
/// runs on the replica when the replica is healthy and either has replayed the request's consistency token or, without
/// a token, lags less than <see cref="ReplicaOptions.MaxLagSeconds"/>; else on the primary. A replica that fails the read
/// (gone, timed out, refusing) is marked down and the same read runs on the primary: a replica never fails a request.
/// Everything else (writes, background work, a tenant moved to a database of its own) reads on the primary.
/// </summary>
internal sealed class ReadRouting(NpgsqlDataSource main, ReplicaDatabase replica, ReplicaConsistency consistency, IHttpContextAccessor http)
{
    public async Task<T> ReadAsync<T>(Guid tenantId, NpgsqlDataSource primary, Func<NpgsqlDataSource, Task<T>> read, CancellationToken ct)
    {
        if (!replica.IsConfigured || !ReferenceEquals(primary, main) || http.HttpContext is not { } context || !ReplicaConsistency.IsRead(context.Request.Method))
        {
            return await read(primary);
        }
        if (await WhyPrimaryAsync(context, ct) is { } reason)
        {
            ReplicaMetrics.OnPrimary(reason);
            return await read(primary);
        }
        T result;
        try
        {
            result = await read(replica.Source);
        }
        catch (Exception ex) when (ReplicaDatabase.IsReplicaFailure(ex) && !ct.IsCancellationRequested)
        {
            // A read that touches nothing can simply run again, on the primary.
            replica.MarkDown(ex);
            ReplicaMetrics.OnPrimary(Down);
            return await read(primary);
        }
        ReplicaMetrics.OnReplica();
        return result;
    }

    private const string Down = "down";

    /// <summary>Null when the replica may serve this read; else why not (the metric's reason).</summary>
    private async Task<string?> WhyPrimaryAsync(HttpContext context, CancellationToken ct)
    {
        if (!replica.IsHealthy)
        {
            return Down;
        }
        var required = consistency.RequiredBy(context, out var bad);
        if (bad)
        {
            return "token";
        }
        if (required is { } token)
        {
            // Once per request: a second read of the same request needs no second wait.
            if (context.Items.TryGetValue(typeof(ReadRouting), out var known) && known is ulong seen && seen >= token)
            {
                return null;
            }
            if (!await replica.ReplayedAtLeastAsync(token, ct))
            {
                return replica.IsHealthy ? "token" : Down;
            }
            context.Items[typeof(ReadRouting)] = token;
            return null;
        }
        // No lag known (not sampled yet, or the last sample failed): the replica is not known to answer.
        return replica.LagSeconds is not { } lag ? Down : lag <= replica.Options.MaxLagSeconds ? null : "lag";
    }
}
