using System.Diagnostics;
using System.Net.Sockets;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Opening a connection at start-up with a bounded wait: after a crash the server may still be replaying its
/// WAL (57P03 "the database system is starting up"), or not listening yet. A monotonic clock measures the
/// budget, so a wall-clock jump cannot stretch or cut it.
/// </summary>
internal static class DatabaseWait
{
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(250);

    /// <summary>A failure worth retrying while the server comes up; anything else (a wrong password) is final.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        // 57P03 starting up, 57P01/57P02 shut down under us, 53300 too many connections during a restart storm.
        PostgresException pg => pg.SqlState is "57P03" or "57P01" or "57P02" or "53300" || pg.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException n => n.IsTransient || n.InnerException is SocketException or IOException or TimeoutException,
        SocketException or IOException or TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// The database cannot be reached or is going away (a request answers 503, the outbox hands its message back without
    /// counting an attempt): only the driver's own failures, never a timeout of something else.
    /// </summary>
    public static bool IsUnavailable(Exception ex) => (ex is NpgsqlException && IsTransient(ex))
        || (ex is InvalidOperationException { InnerException: NpgsqlException inner } && IsTransient(inner));

    /// <summary>Opens a connection, retrying transient failures until <paramref name="budget"/> (from <paramref name="started"/>) is spent.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(string connectionString, long started, TimeSpan budget, string what, CancellationToken ct)
    {
        while (true)
        {
            var conn = new NpgsqlConnection(connectionString);
            try
            {
                await conn.OpenAsync(ct);
                return conn;
            }
            catch (Exception ex) when (ex is NpgsqlException or SocketException or IOException or TimeoutException)
            {
                await conn.DisposeAsync();
                if (!IsTransient(ex))
                {
                    throw new StartupException($"{what} refused the connection: {OneLine(ex)}");
                }
                if (Stopwatch.GetElapsedTime(started) + Pause >= budget)
                {
                    throw new StartupException(
                        $"{what} did not accept connections within {budget.TotalSeconds:0.#} s (Dms__Database__StartupTimeout): {OneLine(ex)}");
                }
                // A pool would hand back the broken connections of a server that died; start from scratch.
                NpgsqlConnection.ClearPool(conn);
                await Task.Delay(Pause, ct);
            }
        }
    }

    /// <summary>The message of an exception and its causes on one line, for the operator.</summary>
    public static string OneLine(Exception ex)
    {
        var parts = new List<string>();
        for (Exception? e = ex; e is not null && parts.Count < 3; e = e.InnerException)
        {
            var message = e.Message.ReplaceLineEndings(" ").Trim();
            if (!parts.Contains(message))
            {
                parts.Add(message);
            }
        }
        return string.Join(": ", parts);
    }
}
