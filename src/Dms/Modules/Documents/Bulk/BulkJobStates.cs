namespace Dms.Modules.Documents.Bulk;

/// <summary>A bulk job's state, stored by name in <c>bulk_jobs.status</c>; the API spells it in lower case.</summary>
internal enum BulkJobStatus
{
    /// <summary>Created with its items; no worker has taken any yet.</summary>
    Queued,

    /// <summary>A worker has leased items; counts move as results are recorded.</summary>
    Running,

    /// <summary>Every item has a result (done, skipped or failed).</summary>
    Done,

    /// <summary>The job could not go on (its action is no longer registered on the workers).</summary>
    Failed,

    /// <summary>The requester (or an admin) stopped it; items without a result were skipped.</summary>
    Canceled,
}

/// <summary>What became of one document of a job, stored by name in <c>bulk_job_items.outcome</c> (null while pending).</summary>
internal enum BulkOutcome
{
    Done,
    Skipped,
    Failed,
}

/// <summary>The bulk job state machine: every allowed move in one place (the claim's Queued → Running is <c>bulk_claim</c>, migration 0024).</summary>
internal static class BulkJobStates
{
    private static readonly Dictionary<BulkJobStatus, BulkJobStatus[]> Next = new()
    {
        [BulkJobStatus.Queued] = [BulkJobStatus.Running, BulkJobStatus.Done, BulkJobStatus.Failed, BulkJobStatus.Canceled],
        [BulkJobStatus.Running] = [BulkJobStatus.Done, BulkJobStatus.Failed, BulkJobStatus.Canceled],
        [BulkJobStatus.Done] = [],
        [BulkJobStatus.Failed] = [],
        [BulkJobStatus.Canceled] = [],
    };

    /// <summary>States in which items may still be worked on.</summary>
    public static readonly BulkJobStatus[] Open = [BulkJobStatus.Queued, BulkJobStatus.Running];

    public static bool CanMove(BulkJobStatus from, BulkJobStatus to) => Next[from].Contains(to);

    public static string Api(this BulkJobStatus status) => status.ToString().ToLowerInvariant();

    public static string Api(this BulkOutcome outcome) => outcome.ToString().ToLowerInvariant();
}
