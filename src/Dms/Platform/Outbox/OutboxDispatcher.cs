using System.Diagnostics;
using Dapper;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Observability;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Platform.Outbox;

/// <summary>
/// Claims due messages of every tenant with <c>FOR UPDATE SKIP LOCKED</c> and a lease, runs their handler,
/// then marks them done, or schedules a retry with backoff, or after <c>MaxAttempts</c> dead-letters them.
/// A node that dies holding a lease loses it when the lease expires and another node (or itself, restarted)
/// takes the message over. On shutdown it finishes the message in hand and releases the rest.
/// </summary>
internal sealed class OutboxDispatcher(
    TenantDatabases databases, IEnumerable<IOutboxHandler> handlers, IOptions<DmsOptions> options, Testing.FaultInjection faults,
    ILogger<OutboxDispatcher> logger, OutboxLane lane) : BackgroundService
{
    // Names the lease holder: which host and process hold a message, unique per dispatcher instance.
    private readonly string _node = $"{Environment.MachineName}:{Environment.ProcessId}:{lane}:{Guid.NewGuid():N}";
    private readonly Dictionary<string, IOutboxHandler> _handlers = handlers.ToDictionary(h => h.Type);

    // Databases whose last claim failed on the connection (its answer may be lost with the claim committed).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<NpgsqlDataSource, bool> _claimsInDoubt = new();

    // A slow lane claims only its own types; the default lane every other type (and unknown ones, which it dead-letters).
    private readonly string[] _laneTypes = handlers.Where(h => lane == OutboxLane.Default ? h.Lane != OutboxLane.Default : h.Lane == lane)
        .Select(h => h.Type).ToArray();

    public OutboxLane Lane => lane;

    private OutboxOptions Settings => options.Value.Outbox;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            int handled;
            try
            {
                handled = await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Outbox dispatcher pass failed (database unreachable?); retrying");
                handled = 0;
            }
            if (handled == 0)
            {
                try
                {
                    await Task.Delay(Settings.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Claims one batch in each database that holds tenants (the main one, then each moved tenant's, ADR 0036) and handles
    /// it; returns how many messages were handled.
    /// </summary>
    internal async Task<int> RunOnceAsync(CancellationToken stoppingToken)
    {
        var handled = 0;
        foreach (var source in await databases.AllAsync(stoppingToken))
        {
            handled += await RunOnceAsync(source, stoppingToken);
        }
        return handled;
    }

    private async Task<int> RunOnceAsync(NpgsqlDataSource dataSource, CancellationToken stoppingToken)
    {
        var claimed = await ClaimAsync(dataSource, stoppingToken);
        if (claimed.Count == 0)
        {
            return 0;
        }
        var claimedAt = Stopwatch.GetTimestamp();
        var pass = new Pass();
        // Messages of one entity (an approval, a document) run one after another in claim order, as before; different
        // entities run side by side, up to the lane's concurrency (ADR 0040).
        var chains = claimed.GroupBy(OrderKey).Select(g => g.ToList()).ToList();
        await Parallel.ForEachAsync(chains, new ParallelOptions { MaxDegreeOfParallelism = Settings.Parallelism(lane) }, async (chain, _) =>
        {
            foreach (var message in chain)
            {
                if (stoppingToken.IsCancellationRequested || pass.Aborted)
                {
                    pass.Unstarted(message);
                    continue;
                }
                try
                {
                    if (await HandleAsync(dataSource, message, claimedAt, pass))
                    {
                        pass.Done(message);
                    }
                }
                catch (Exception ex) when (Database.DatabaseWait.IsUnavailable(ex))
                {
                    // The database went away between messages (renewing a lease, recording an outcome): the rest of the
                    // pass goes back uncounted once it returns, instead of waiting out its lease and losing an attempt.
                    logger.LogWarning("Outbox lane {Lane}: the database is unavailable while handling message {MessageId}; handing the rest of the batch back when it returns",
                        lane, message.Id);
                    pass.Abort(message);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Anything else escaping the bookkeeping would strand the rest of the batch until its lease runs out (five
                    // minutes on the background lane) and cost each message an attempt: hand it back too, and say why loudly.
                    logger.LogError(ex, "Outbox lane {Lane}: unexpected failure while handling message {MessageId}; handing the rest of the batch back",
                        lane, message.Id);
                    pass.Abort(message);
                }
            }
        });
        await CompleteAsync(dataSource, pass.DoneMessages);
        if (pass.HandBack.Count > 0)
        {
            if (stoppingToken.IsCancellationRequested && !pass.Aborted)
            {
                await ReleaseAsync(dataSource, pass.HandBack);
            }
            else
            {
                await HandBackAsync(dataSource, pass.HandBack);
            }
        }
        return claimed.Count - pass.HandBack.Count;
    }

    /// <summary>Messages with the same key never run at once on a node; null (most types) orders nothing.</summary>
    private string OrderKey(OutboxMessage message)
    {
        try
        {
            return (_handlers.TryGetValue(message.Type, out var handler) ? handler.OrderKey(message) : null) ?? message.Id.ToString();
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException)
        {
            // An unreadable payload orders nothing: its handler fails on it and records why.
            return message.Id.ToString();
        }
    }

    /// <summary>What one pass over a claimed batch did, written by its concurrent chains.</summary>
    private sealed class Pass
    {
        private readonly Lock _lock = new();
        private readonly List<OutboxMessage> _done = [];
        private readonly List<OutboxMessage> _handBack = [];
        private int _inFlight;
        private volatile bool _aborted;

        public bool Aborted => _aborted;

        public List<OutboxMessage> DoneMessages
        {
            get
            {
                lock (_lock)
                {
                    return [.. _done];
                }
            }
        }

        public List<OutboxMessage> HandBack
        {
            get
            {
                lock (_lock)
                {
                    return [.. _handBack];
                }
            }
        }

        public void Done(OutboxMessage message)
        {
            lock (_lock)
            {
                _done.Add(message);
            }
        }

        public void Unstarted(OutboxMessage message)
        {
            lock (_lock)
            {
                _handBack.Add(message);
            }
        }

        public void Abort(OutboxMessage message)
        {
            _aborted = true;
            Unstarted(message);
        }

        public int InFlightNow => Volatile.Read(ref _inFlight);

        /// <summary>Counts a message in flight until disposed.</summary>
        public Leave Enter()
        {
            Interlocked.Increment(ref _inFlight);
            return new Leave(this);
        }

        public sealed class Leave(Pass pass) : IDisposable
        {
            public void Dispose() => Interlocked.Decrement(ref pass._inFlight);
        }
    }

    private async Task<List<OutboxMessage>> ClaimAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        if (_claimsInDoubt.ContainsKey(dataSource))
        {
            // The last claim here failed on the connection: it may have committed without its answer reaching us. Nothing of
            // this dispatcher is in flight between passes, so whatever is still leased to it is such an orphan: handed back
            // without counting the attempt, instead of waiting out its lease (migration 0034).
            var released = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT outbox_release_orphans(@node, NULL)", new { node = _node }, cancellationToken: ct));
            _claimsInDoubt.TryRemove(dataSource, out _);
            if (released > 0)
            {
                logger.LogWarning("Outbox lane {Lane}: handed back {Count} message(s) leased by a claim whose answer was lost", lane, released);
            }
        }
        try
        {
            var claimed = await ClaimOnAsync(conn, ct);
            faults.OutboxClaimAnswered(claimed.Select(m => m.Type));
            return claimed;
        }
        catch (Exception ex) when (Database.DatabaseWait.IsUnavailable(ex))
        {
            _claimsInDoubt[dataSource] = true;
            throw;
        }
    }

    private async Task<List<OutboxMessage>> ClaimOnAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        // The only cross-tenant access the runtime role has: a function that leases due messages (ADR 0012).
        // It also dead-letters a message whose lease ran out after its last allowed attempt: that one most
        // likely took its node down with it (a crash, an OOM kill), so it is not handed to the next node forever.
        return (await conn.QueryAsync<OutboxMessage>(new CommandDefinition(
            "SELECT id, tenant_id, type, payload, attempts FROM outbox_claim(@node, @batch, @lease, @max, @types, @only)",
            new
            {
                node = _node,
                batch = Settings.Batch(lane),
                lease = Settings.Lease(lane),
                max = Settings.Attempts(lane),
                types = _laneTypes,
                only = lane != OutboxLane.Default,
            }, cancellationToken: ct))).ToList();
    }

    /// <summary>
    /// Runs one message; true when its handler succeeded and it waits for <see cref="CompleteAsync"/> (with the rest of the
    /// pass). Every other outcome is recorded here.
    /// </summary>
    private async Task<bool> HandleAsync(NpgsqlDataSource dataSource, OutboxMessage message, long claimedAt, Pass pass)
    {
        using var flight = pass.Enter();
        // Crash tests die here: the state change committed, this message (and up to Concurrency - 1 others) leased, its
        // side effect not carried out.
        await faults.OutboxMessageClaimedAsync(message.Id, message.Type, () => pass.InFlightNow);

        // A message late in a batch may have waited a good part of its lease: renew it then (and leave it alone if it
        // already expired and another node took it over). One that waited less keeps the claim's lease, without a
        // transaction of its own: the lease is far longer than a handler runs.
        if (Stopwatch.GetElapsedTime(claimedAt) > Settings.Lease(lane) / 4 && !await RenewLeaseAsync(dataSource, message))
        {
            logger.LogInformation("Outbox message {MessageId} was taken over by another node before its turn", message.Id);
            return false;
        }

        // The message in hand is finished even during shutdown (handlers are short); a lease covers a hang.
        using var timeout = new CancellationTokenSource(Settings.Lease(lane));
        // The handler's span continues the trace of the request that wrote the message ("approve → execute → storage").
        using var activity = DmsTelemetry.Source.StartActivity($"outbox {message.Type}", ActivityKind.Consumer, Outbox.TraceOf(message));
        activity?.SetTag("messaging.system", "dms.outbox");
        activity?.SetTag("messaging.destination.name", message.Type);
        activity?.SetTag("messaging.message.id", message.Id.ToString());
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["OutboxMessageId"] = message.Id, ["TenantId"] = message.TenantId });
        var started = Stopwatch.GetTimestamp();
        try
        {
            if (!_handlers.TryGetValue(message.Type, out var handler))
            {
                throw new PermanentOutboxFailure($"No handler for message type '{message.Type}'.");
            }
            await handler.HandleAsync(message, timeout.Token);
            Measure(message, started, "done");
            return true;
        }
        catch (Exception ex) when (TenantMoving.IsProblem(ex))
        {
            // The tenant is frozen for a move (seconds): not the message's fault, so it goes back without counting an
            // attempt; after the move its copy in the tenant's new database runs there (this one is left behind).
            Measure(message, started, "retry");
            await HandBackAsync(dataSource, [message]);
            return false;
        }
        catch (Exception ex) when (Database.DatabaseWait.IsUnavailable(ex))
        {
            // The database went away under the handler: not the message's fault. It is handed back without counting the
            // attempt as soon as the database answers again, and this lane waits meanwhile (no claims while it is away).
            Measure(message, started, "retry");
            logger.LogWarning("Outbox message {MessageId} ({Type}) interrupted: the database is unavailable; handing it back when it returns",
                message.Id, message.Type);
            await HandBackAsync(dataSource, [message]);
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var dead = ex is PermanentOutboxFailure || message.Attempts >= Settings.Attempts(lane);
            Measure(message, started, dead ? "dead" : "retry");
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            var retryIn = Settings.Backoff(message.Attempts);
            if (dead)
            {
                logger.LogError(ex, "Outbox message {MessageId} ({Type}) is dead after {Attempts} attempt(s)", message.Id, message.Type, message.Attempts);
            }
            else
            {
                logger.LogWarning(ex, "Outbox message {MessageId} ({Type}) failed on attempt {Attempts}; retrying in {RetryIn}", message.Id, message.Type, message.Attempts, retryIn);
            }
            await FinishAsync(dataSource, message, dead ? OutboxStatus.Dead : OutboxStatus.Pending, Describe(ex), dead ? null : retryIn);
            return false;
        }
    }

    /// <summary>
    /// Marks the handled messages of a pass done: one UPDATE per tenant, still only where the lease is ours (a message whose
    /// lease ran out and that another node took over is that node's to finish). If the database is away, it retries for as
    /// long as a lease lasts; failing that, the messages are handed back and run again (handlers are idempotent).
    /// </summary>
    private async Task CompleteAsync(NpgsqlDataSource dataSource, List<OutboxMessage> messages)
    {
        if (messages.Count == 0)
        {
            return;
        }
        if (!OutboxStates.CanMove(OutboxStatus.Processing, OutboxStatus.Done))
        {
            throw new InvalidOperationException("An outbox message cannot move from Processing to Done.");
        }
        var until = Stopwatch.GetTimestamp() + (long)(Settings.Lease(lane).TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                await MarkDoneAsync(dataSource, messages);
                return;
            }
            catch (Exception ex) when (Database.DatabaseWait.IsUnavailable(ex) && Stopwatch.GetTimestamp() < until)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                logger.LogError(ex, "Outbox lane {Lane}: could not mark {Count} handled message(s) done; handing them back (their handlers are idempotent)",
                    lane, messages.Count);
                await HandBackAsync(dataSource, messages);
                return;
            }
        }
    }

    private Task MarkDoneAsync(NpgsqlDataSource dataSource, List<OutboxMessage> messages) =>
        // Frozen since its handlers ran: left leased. The lease runs out and the message runs again (idempotent), here or,
        // after the move, from its copy in the tenant's database.
        UpdateLeasedAsync(dataSource, messages, $"""
            UPDATE outbox_messages
            SET status = {OutboxStatus.Done.Sql()}, last_error = NULL, locked_by = NULL, locked_until = NULL, processed_at = now()
            WHERE id = ANY(@ids) AND locked_by = @node
            """);

    /// <summary>
    /// Runs <paramref name="sql"/> (<c>@ids</c>, <c>@node</c>) for <paramref name="messages"/> in one transaction per tenant:
    /// outside the claim function the dispatcher sees one tenant at a time. A tenant frozen for a move is skipped: its
    /// messages stay leased until the lease runs out (and, after a move, their copies run in the tenant's database).
    /// </summary>
    private async Task UpdateLeasedAsync(NpgsqlDataSource dataSource, List<OutboxMessage> messages, string sql)
    {
        await using var conn = await dataSource.OpenConnectionAsync();
        foreach (var tenant in messages.GroupBy(m => m.TenantId))
        {
            await using var tx = await conn.BeginTransactionAsync();
            try
            {
                await EnterForBookkeepingAsync(conn, tx, tenant.Key);
            }
            catch (Http.ApiProblem ex) when (TenantMoving.IsProblem(ex))
            {
                continue;
            }
            await conn.ExecuteAsync(new CommandDefinition(sql, new { ids = tenant.Select(m => m.Id).ToArray(), node = _node }, tx));
            await tx.CommitAsync();
        }
    }

    private static void Measure(OutboxMessage message, long started, string outcome) =>
        DmsTelemetry.OutboxHandlerDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
            new TagList { { "type", message.Type }, { "outcome", outcome } });

    private async Task FinishAsync(NpgsqlDataSource dataSource, OutboxMessage message, OutboxStatus status, string? error, TimeSpan? retryIn)
    {
        // The lease is the one guard (below); the state machine is checked here so a wrong move fails loudly in tests.
        if (!OutboxStates.CanMove(OutboxStatus.Processing, status))
        {
            throw new InvalidOperationException($"An outbox message cannot move from Processing to {status}.");
        }
        await using var conn = await dataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await EnterForBookkeepingAsync(conn, tx, message.TenantId);
        // Only while the lease is ours: if it expired and another node took over, that node finishes it.
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE outbox_messages
            SET status = @status, last_error = @error, locked_by = NULL, locked_until = NULL,
                processed_at = CASE WHEN @done THEN now() END,
                available_at = CASE WHEN @retry THEN now() + @retryIn ELSE available_at END
            WHERE id = @id AND locked_by = @node
            """, new
        {
            status = status.Db(),
            done = status == OutboxStatus.Done,
            retry = status == OutboxStatus.Pending,
            error,
            retryIn = retryIn ?? TimeSpan.Zero,
            id = message.Id,
            node = _node,
        }, tx));
        await tx.CommitAsync();
    }

    private async Task<bool> RenewLeaseAsync(NpgsqlDataSource dataSource, OutboxMessage message)
    {
        await using var conn = await dataSource.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        try
        {
            await EnterForBookkeepingAsync(conn, tx, message.TenantId);
        }
        catch (Http.ApiProblem ex) when (TenantMoving.IsProblem(ex))
        {
            // Frozen or moved: not run here now; the lease runs out and the tenant's database (after the move) runs it.
            return false;
        }
        var renewed = await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE outbox_messages SET locked_until = now() + @lease
            WHERE id = @id AND locked_by = @node AND status = {OutboxStatus.Processing.Sql()}
            """, new { id = message.Id, node = _node, lease = Settings.Lease(lane) }, tx));
        await tx.CommitAsync();
        return renewed == 1;
    }

    /// <summary>
    /// Hands a message back uncounted once the database answers, retrying for as long as its lease lasts; past that, the
    /// lease runs out and the next claim counts an attempt (a database away longer than a lease costs one attempt).
    /// </summary>
    private async Task HandBackAsync(NpgsqlDataSource dataSource, List<OutboxMessage> messages)
    {
        var until = Stopwatch.GetTimestamp() + (long)(Settings.Lease(lane).TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            try
            {
                await ReleaseAsync(dataSource, messages);
                return;
            }
            catch (Exception ex) when (Database.DatabaseWait.IsUnavailable(ex) && Stopwatch.GetTimestamp() < until)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
            catch (Exception ex) when (Database.DatabaseWait.IsUnavailable(ex))
            {
                logger.LogWarning("{Count} outbox message(s) could not be handed back before their lease ran out; their next claim counts an attempt", messages.Count);
                return;
            }
        }
    }

    /// <summary>Claimed but not started at shutdown: handed back at once, without counting an attempt.</summary>
    private async Task ReleaseAsync(NpgsqlDataSource dataSource, List<OutboxMessage> messages)
    {
        if (messages.Count == 0)
        {
            return;
        }
        await UpdateLeasedAsync(dataSource, messages, $"""
            UPDATE outbox_messages SET status = {OutboxStatus.Pending.Sql()}, locked_by = NULL, locked_until = NULL, attempts = attempts - 1
            WHERE id = ANY(@ids) AND locked_by = @node
            """);
        logger.LogInformation("Released {Count} claimed outbox message(s) without counting an attempt", messages.Count);
    }

    /// <summary>
    /// The dispatcher's own writes to a tenant's outbox rows wait for and respect a tenant move like any write (ADR 0036):
    /// once the mover copied the last changes, nothing of the tenant may change in this database.
    /// </summary>
    private static async Task EnterForBookkeepingAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenant)
    {
        if (await Database.Db.EnterTenantForWriteAsync(conn, tx, tenant, CancellationToken.None) != TenantPlacementState.Home)
        {
            throw TenantMoving.Problem();
        }
    }

    /// <summary>
    /// What tenant admins see of a failure (dead-message list, UI): our own wording, never a driver's exception
    /// text, which can name hosts, buckets or SQL. The full exception is in the node's log with the message id.
    /// </summary>
    internal static string Describe(Exception ex) => ex switch
    {
        PermanentOutboxFailure permanent => Truncate(permanent.Message),
        Storage.BlobStoreUnavailableException => "Storage was unavailable; see the node's log for the provider's error.",
        Npgsql.NpgsqlException or TimeoutException => "The database was unavailable or timed out; see the node's log.",
        OperationCanceledException => "The handler ran out of time (lease expired); see the node's log.",
        _ => $"{ex.GetType().Name}; see the node's log for details.",
    };

    private static string Truncate(string value) => value.Length > 2000 ? value[..2000] : value;
}
