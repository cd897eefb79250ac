namespace Dms.Platform.Database;

/// <summary>
/// <c>Dms__Replica__*</c>: how reads use the streaming replica named by <c>ConnectionStrings__DmsReplica</c> (ADR 0035).
/// Without that connection string none of these matter.
/// </summary>
internal sealed class ReplicaOptions
{
    /// <summary>How long a read carrying a consistency token waits for the replica to replay up to it before it reads on the primary.</summary>
    public int MaxWaitMs { get; set; } = 200;

    /// <summary>A replica further behind than this gets no reads without a token (they go to the primary).</summary>
    public double MaxLagSeconds { get; set; } = 10;

    /// <summary>After a connection failure or timeout on the replica, reads skip it for this long (unless the lag sampler reaches it first).</summary>
    public TimeSpan UnhealthyFor { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the node samples the replica's replay position and the primary's WAL position (the lag gauges).</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long opening a replica connection may take before the read goes to the primary.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one statement may run on the replica before it counts as a timeout (and the read runs on the primary).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Lifetime of the consistency-token cookie, and of the token a node remembers per signed-in user.</summary>
    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How many signed-in users' latest tokens a node remembers (the oldest are forgotten first).</summary>
    public int RememberedUsers { get; set; } = 10_000;
}
