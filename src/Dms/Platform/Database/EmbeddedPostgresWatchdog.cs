namespace Dms.Platform.Database;

/// <summary>
/// Keeps the embedded PostgreSQL running: when its postmaster dies under a running app (killed, out of memory), the
/// app that owns the cluster starts it again on the same port within a second or two. Meanwhile requests answer 503
/// <c>database.unavailable</c> and the outbox waits; both recover by themselves. Does nothing with an external database.
/// </summary>
internal sealed class EmbeddedPostgresWatchdog(DatabaseConnections connections, ILogger<EmbeddedPostgresWatchdog> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (connections.Embedded is not { IsOwner: true } embedded)
            {
                continue; // not started yet, external, or another process owns it
            }
            try
            {
                if (await embedded.RestartIfDeadAsync(stoppingToken))
                {
                    logger.LogWarning("The embedded PostgreSQL server had stopped; it was started again on port {Port}", embedded.Port);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Starting the embedded PostgreSQL server again failed; retrying");
            }
        }
    }
}
