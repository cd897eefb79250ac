namespace Dms.Tests.Process;

/// <summary>The data directory of an app run as its own process: what its embedded PostgreSQL leaves when a test ends.</summary>
internal static class ServerDataDirectory
{
    /// <summary>Kills the embedded PostgreSQL still running on <paramref name="dataDirectory"/> (a killed app leaves it) and removes the directory.</summary>
    public static void Remove(string dataDirectory)
    {
        var pid = Path.Combine(dataDirectory, "postgres", "pgdata", "postmaster.pid");
        if (File.Exists(pid) && int.TryParse(File.ReadLines(pid).FirstOrDefault(), out var postmaster))
        {
            try
            {
                System.Diagnostics.Process.GetProcessById(postmaster).Kill();
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
        try
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open: the temp directory keeps it.
        }
    }
}
