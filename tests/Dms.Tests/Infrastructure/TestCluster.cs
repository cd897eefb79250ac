using Dms.Platform.Database;

namespace Dms.Tests.Infrastructure;

/// <summary>
/// One throwaway PostgreSQL cluster per test run, started with the application's own launcher in a
/// temporary folder, and stopped and removed when the test process exits.
/// </summary>
internal static class TestCluster
{
    private static readonly Lazy<Task<EmbeddedPostgres>> Cluster = new(StartAsync);

    public static Task<EmbeddedPostgres> GetAsync() => Cluster.Value;

    public static string Root { get; } = Path.Combine(Path.GetTempPath(), $"dms-tests-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);

    private static async Task<EmbeddedPostgres> StartAsync()
    {
        var cluster = await EmbeddedPostgres.StartAsync(Path.Combine(Root, "postgres"), null);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover folder in /tmp harms nothing.
            }
        };
        return cluster;
    }
}
