using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Dms.Platform.Database;
using Npgsql;

namespace Dms.Tests.Infrastructure;

/// <summary>
/// A real streaming replica (hot standby) of the test cluster: <c>pg_basebackup -R</c> (standby.signal and
/// primary_conninfo) from <see cref="TestCluster"/> through a replication slot of its own (so the primary keeps the WAL
/// while the replica is down), started on a free loopback port with the cluster's own binaries, as the postgres system
/// user when the tests run as root. Stopped (and its slot dropped) on dispose, and at the latest when the process exits.
/// </summary>
internal sealed class ReplicaServer : IAsyncDisposable
{
    private readonly string _binDir;
    private readonly string _dataDir;
    private readonly string _folder;
    private readonly string _slot;
    private readonly string? _runAs;
    private readonly string _superUserPassword;
    private readonly string _primarySuperUser;
    private bool _disposed;

    private ReplicaServer(string binDir, string folder, string slot, string? runAs, int port, string superUserPassword, string primarySuperUser)
    {
        _binDir = binDir;
        _folder = folder;
        _dataDir = Path.Combine(folder, "pgdata");
        _slot = slot;
        _runAs = runAs;
        Port = port;
        _superUserPassword = superUserPassword;
        _primarySuperUser = primarySuperUser;
    }

    public int Port { get; }

    /// <summary>The replica's connection string for the app: its own host and port; user, password and database come from <c>ConnectionStrings__Dms</c>.</summary>
    public string ForApp => new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port }.ConnectionString;

    /// <summary>A superuser connection to <paramref name="database"/> on the replica (statistics, replay pause).</summary>
    public string SuperUser(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Password = _superUserPassword,
        Database = database,
        Pooling = false,
    }.ConnectionString;

    public static async Task<ReplicaServer> StartAsync()
    {
        var cluster = await TestCluster.GetAsync();
        var credentials = JsonSerializer.Deserialize<EmbeddedPostgres.Credentials>(
            await File.ReadAllTextAsync(Path.Combine(TestCluster.Root, "postgres", "credentials.json")))!;
        var primarySuperUser = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = cluster.Port,
            Username = "postgres",
            Password = credentials.SuperUserPassword,
            Database = "postgres",
            Pooling = false,
        }.ConnectionString;
        int maxConnections;
        await using (var conn = new NpgsqlConnection(primarySuperUser))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SHOW max_connections", conn);
            // A hot standby refuses to start with fewer connections than its primary.
            maxConnections = int.Parse((string)(await cmd.ExecuteScalarAsync())!, CultureInfo.InvariantCulture);
        }

        var binDir = EmbeddedPostgres.FindBinaries(null);
        var runAs = Environment.UserName == "root" ? "postgres" : null;
        var folder = Path.Combine(TestCluster.Root, $"replica-{Guid.NewGuid():N}"[..16]);
        Directory.CreateDirectory(folder);
        var slot = $"dms_test_replica_{Guid.NewGuid():N}"[..28];
        var server = new ReplicaServer(binDir, folder, slot, runAs, FreePort(), credentials.SuperUserPassword, primarySuperUser);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        if (runAs is not null)
        {
            await RunAsync(null, "chown", ["-R", $"{runAs}:", folder]);
            await RunAsync(null, "chmod", ["0700", folder]);
        }
        // The cluster's pg_hba.conf (initdb's) already lets any role with REPLICATION connect for replication from loopback.
        await RunAsync(runAs, Path.Combine(binDir, "pg_basebackup"),
            ["-d", $"host=127.0.0.1 port={cluster.Port} user=postgres password={credentials.SuperUserPassword}", "-D", server._dataDir,
             "-R", "-X", "stream", "-c", "fast", "-C", "-S", slot]);
        server._maxConnections = maxConnections;
        await server.StartServerAsync();
        return server;
    }

    private int _maxConnections;

    /// <summary>Starts the replica's postmaster (first start, or again after <see cref="KillAsync"/>) and waits until it answers as a standby.</summary>
    public async Task StartServerAsync()
    {
        var options = $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections={_maxConnections} -c shared_buffers=32MB -c hot_standby=on -c fsync=off";
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            // After a kill the old postmaster's children may still hold its shared memory for a moment: start again until it takes.
            var exit = await RunAsync(_runAs, Path.Combine(_binDir, "pg_ctl"), ["start", "-D", _dataDir, "-l", Path.Combine(_folder, "replica.log"), "-o", options, "-w", "-t", "60"], throwOnError: false);
            if (exit == 0)
            {
                break;
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                var log = File.Exists(Path.Combine(_folder, "replica.log")) ? await File.ReadAllTextAsync(Path.Combine(_folder, "replica.log")) : "";
                throw new InvalidOperationException($"The replica did not start: {log[Math.Max(0, log.Length - 2000)..]}");
            }
            await Task.Delay(250);
        }
        while (true)
        {
            try
            {
                await using var conn = new NpgsqlConnection(SuperUser("postgres"));
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("SELECT pg_is_in_recovery()", conn);
                if ((bool)(await cmd.ExecuteScalarAsync())!)
                {
                    return;
                }
                throw new InvalidOperationException("The replica is not in recovery: pg_basebackup -R did not make it a standby.");
            }
            catch (NpgsqlException) when (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>SIGKILL to the replica's postmaster (its children end on their own): the replica is gone without a goodbye.</summary>
    public async Task KillAsync()
    {
        var pid = int.Parse((await File.ReadAllLinesAsync(Path.Combine(_dataDir, "postmaster.pid")))[0], CultureInfo.InvariantCulture);
        using var postmaster = System.Diagnostics.Process.GetProcessById(pid);
        postmaster.Kill();
        await postmaster.WaitForExitAsync();
    }

    /// <summary>Runs <paramref name="sql"/> as superuser on the replica (in database postgres): <c>pg_wal_replay_pause()</c>, <c>pg_wal_replay_resume()</c>.</summary>
    public async Task ExecuteAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(SuperUser("postgres"));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Pauses the replica's replay and waits until it has really stopped (<c>pg_wal_replay_pause()</c> only asks: a few
    /// more records may be replayed before the startup process looks), so nothing written afterwards reaches the replica.
    /// </summary>
    public async Task PauseReplayAsync()
    {
        await ExecuteAsync("SELECT pg_wal_replay_pause()");
        await using var conn = new NpgsqlConnection(SuperUser("postgres"));
        await conn.OpenAsync();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var cmd = new NpgsqlCommand("SELECT pg_get_wal_replay_pause_state()", conn);
            if ((string)(await cmd.ExecuteScalarAsync())! == "paused")
            {
                return;
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException("The replica's replay did not pause within 30 s.");
            }
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (File.Exists(Path.Combine(_dataDir, "postmaster.pid")))
        {
            await RunAsync(_runAs, Path.Combine(_binDir, "pg_ctl"), ["stop", "-D", _dataDir, "-m", "immediate", "-w", "-t", "30"], throwOnError: false);
        }
        try
        {
            // Without its standby the slot would hold the primary's WAL for the rest of the run.
            await using var conn = new NpgsqlConnection(_primarySuperUser);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = @slot AND NOT active", conn);
            cmd.Parameters.AddWithValue("slot", _slot);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException)
        {
            // The cluster is going away with the process.
        }
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover folder in /tmp harms nothing.
        }
    }

    private static async Task<int> RunAsync(string? runAs, string program, IReadOnlyList<string> args, bool throwOnError = true)
    {
        var start = new ProcessStartInfo(runAs is null ? program : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The server's working directory must be readable by the user it runs as.
            WorkingDirectory = "/",
        };
        if (runAs is not null)
        {
            foreach (var a in new[] { "-u", runAs, "--", program })
            {
                start.ArgumentList.Add(a);
            }
        }
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = System.Diagnostics.Process.Start(start)!;
        // pg_ctl start leaves the server holding inherited pipes open: read them without waiting for their end.
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && throwOnError)
        {
            lock (stderr)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', args.Where(a => !a.Contains("password", StringComparison.Ordinal)))} failed with {process.ExitCode}: {stderr}");
            }
        }
        return process.ExitCode;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
