using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Dms.Tests.Infrastructure;

/// <summary>
/// A real PgBouncer 1.18 in transaction-pooling mode in front of the test cluster: on a free loopback port, every
/// database of the cluster (<c>*</c>), SCRAM to the client and to PostgreSQL from the plain-text passwords of the
/// cluster's roles. With <c>DMS_TEST_PGBOUNCER=1</c> every test app's runtime connection goes through the shared one
/// (<see cref="Enabled"/>); a test may start one of its own with a small pool. Killed when the test process exits.
/// </summary>
internal sealed class PgBouncerServer
{
    public static bool Enabled => Environment.GetEnvironmentVariable("DMS_TEST_PGBOUNCER") == "1";

    private static readonly Lazy<Task<PgBouncerServer>> Shared = new(() => StartAsync(poolSize: 20));

    /// <summary>The run's shared PgBouncer (started on first use).</summary>
    public static Task<PgBouncerServer> GetAsync() => Shared.Value;

    private readonly Dictionary<string, string> _passwords;

    private PgBouncerServer(int port, Dictionary<string, string> passwords)
    {
        Port = port;
        _passwords = passwords;
    }

    public int Port { get; }

    /// <summary>
    /// <paramref name="direct"/> (a runtime-role string to the cluster) rewritten to go through this PgBouncer. No Reset On
    /// Close: the DISCARD ALL Npgsql would send on return to its pool lands on whichever server session PgBouncer picks,
    /// and nothing session-level is left to reset (ADR 0034).
    /// </summary>
    public string Through(string direct) => new NpgsqlConnectionStringBuilder(direct)
    {
        Host = "127.0.0.1",
        Port = Port,
        NoResetOnClose = true,
    }.ConnectionString;

    /// <summary>
    /// Runs <paramref name="command"/> on PgBouncer's admin console (<c>SHOW POOLS</c>, …) with psql: the console speaks
    /// only the simple query protocol, which Npgsql never uses. Returns the rows as column name → value.
    /// </summary>
    public async Task<IReadOnlyList<Dictionary<string, string>>> AdminAsync(string command)
    {
        var start = new ProcessStartInfo("psql", ["-X", "-A", "-P", "footer=off", "-F", "|", "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-U", "dms_app", "-d", "pgbouncer", "-c", command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PGPASSWORD"] = _passwords["dms_app"];
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"psql {command} on PgBouncer failed: {await error}");
        }
        var lines = (await output).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split('|');
        return lines.Skip(1).Select(l => header.Zip(l.Split('|')).ToDictionary(p => p.First, p => p.Second)).ToList();
    }

    /// <summary>Starts a PgBouncer of its own, with at most <paramref name="poolSize"/> server connections per database and user.</summary>
    public static async Task<PgBouncerServer> StartAsync(int poolSize)
    {
        var cluster = await TestCluster.GetAsync();
        var (app, owner) = await cluster.CreateDatabaseAsync("dms_pgbouncer_probe_" + Guid.NewGuid().ToString("N")[..8]);
        var passwords = new Dictionary<string, string>();
        foreach (var cs in new[] { app, owner })
        {
            var b = new NpgsqlConnectionStringBuilder(cs);
            passwords[b.Username!] = b.Password!;
        }

        var folder = Path.Combine(Path.GetTempPath(), $"dms-pgbouncer-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        var port = FreePort();
        var config = Path.Combine(folder, "pgbouncer.ini");
        var users = Path.Combine(folder, "userlist.txt");
        await File.WriteAllTextAsync(users, string.Concat(passwords.Select(p => $"\"{p.Key}\" \"{p.Value}\"\n")));
        await File.WriteAllTextAsync(config, $"""
            [databases]
            * = host=127.0.0.1 port={cluster.Port}

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = scram-sha-256
            auth_file = {users}
            admin_users = dms_app
            pool_mode = transaction
            default_pool_size = {poolSize}
            max_client_conn = 900
            max_db_connections = 0
            server_reset_query =
            ignore_startup_parameters = extra_float_digits
            query_wait_timeout = 60
            log_connections = 0
            log_disconnections = 0
            """);

        // PgBouncer refuses to run as root: as root it runs as the postgres system user, like the cluster itself.
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            await RunAsync("chown", "-R", "postgres:", folder);
            await RunAsync("chmod", "0700", folder);
        }
        // A shell watches the test process and stops PgBouncer once it is gone: the kill at ProcessExit below does not always
        // run (the test host is ended while an earlier exit handler, the cluster's pg_ctl stop, still waits), and PgBouncers
        // were left running after the suite. /proc, not kill -0: as the postgres user, signalling root's process is refused.
        string[] watched = ["sh", "-c", "pgbouncer \"$1\" & child=$!; while [ -d /proc/$2 ] && kill -0 $child 2>/dev/null; do sleep 1; done; kill $child 2>/dev/null; wait $child",
            "sh", config, Environment.ProcessId.ToString(CultureInfo.InvariantCulture)];
        var start = asRoot ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", .. watched]) : new ProcessStartInfo(watched[0], watched[1..]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.WorkingDirectory = "/";
        System.Diagnostics.Process process;
        try
        {
            process = System.Diagnostics.Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("pgbouncer not found on PATH: install it (Debian/Ubuntu: apt-get install pgbouncer); test.sh does.", ex);
        }
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover folder in /tmp harms nothing.
            }
        };

        var server = new PgBouncerServer(port, passwords);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                lock (log)
                {
                    throw new InvalidOperationException($"pgbouncer exited with {process.ExitCode} at start-up: {log}");
                }
            }
            try
            {
                await using var conn = new NpgsqlConnection(server.Through(app));
                await conn.OpenAsync();
                return server;
            }
            catch (Exception ex) when (ex is NpgsqlException or SocketException && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var process = System.Diagnostics.Process.Start(new ProcessStartInfo(file, args))!;
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed with {process.ExitCode}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
