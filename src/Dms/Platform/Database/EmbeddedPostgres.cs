using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// A private PostgreSQL cluster run from the locally installed server binaries, in a folder of its own.
/// Used when no connection string is configured, and by the test suite for throwaway clusters.
/// </summary>
/// <remarks>
/// One process owns the cluster at a time: it holds an exclusive lock file and stops the server when it
/// is disposed. A second process on the same folder (a CLI verb while the app runs) joins as a guest.
/// A server left running by a killed owner is adopted, but only once it answers a connection; a stale
/// postmaster.pid whose process is gone is removed, and a postmaster still being torn down (killed together
/// with the app) or replaying its WAL is waited for within a bounded start-up budget.
/// </remarks>
internal sealed class EmbeddedPostgres : IAsyncDisposable
{
    /// <summary>
    /// Room for several nodes' pools of 50 on one embedded server (the test suite runs many app instances against it at
    /// once; 200 ran out during the seat races: "too many clients"). A slot costs a few hundred KB of shared memory.
    /// </summary>
    private const int MaxConnections = 500;

    internal const string DatabaseName = "dms";
    internal const string OwnerRole = "dms_owner";
    internal const string AppRole = "dms_app";
    private const string SuperUser = "postgres";

    private readonly string _root;
    private readonly string _dataDir;
    private readonly string _binDir;
    private readonly string? _runAsUser;
    private readonly FileStream? _ownerLock;
    private bool _disposed;

    private EmbeddedPostgres(string root, string binDir, string? runAsUser, FileStream? ownerLock, int port, Credentials credentials)
    {
        _root = root;
        _dataDir = Path.Combine(root, "pgdata");
        _binDir = binDir;
        _runAsUser = runAsUser;
        _ownerLock = ownerLock;
        Port = port;
        OwnerConnectionString = ConnectionString(port, OwnerRole, credentials.OwnerPassword);
        AppConnectionString = ConnectionString(port, AppRole, credentials.AppPassword);
    }

    public int Port { get; }
    public string OwnerConnectionString { get; }
    public string AppConnectionString { get; }
    public bool IsOwner => _ownerLock is not null;

    /// <summary>Starts (or joins) the cluster kept in <paramref name="root"/>, creating it on first use.</summary>
    public static async Task<EmbeddedPostgres> StartAsync(string root, string? configuredBinDir, CancellationToken ct = default) =>
        await StartAsync(root, configuredBinDir, TimeSpan.FromSeconds(60), ct);

    /// <inheritdoc cref="StartAsync(string, string?, CancellationToken)"/>
    public static async Task<EmbeddedPostgres> StartAsync(string root, string? configuredBinDir, TimeSpan startupTimeout, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        root = Path.GetFullPath(root);
        Directory.CreateDirectory(root);
        var binDir = FindBinaries(configuredBinDir);
        // initdb and postgres refuse to run as root: run them as the postgres system user instead.
        var runAsUser = Environment.UserName == "root" ? "postgres" : null;

        var ownerLock = TryTakeOwnerLock(Path.Combine(root, "owner.lock"));
        var dataDir = Path.Combine(root, "pgdata");
        var credentialsFile = Path.Combine(root, "credentials.json");

        if (ownerLock is null)
        {
            // Another process owns the cluster: wait for it to be up and use it as it is.
            var guestPort = await WaitForRunningServerPortAsync(dataDir, ct);
            var guestCredentials = ReadCredentials(credentialsFile);
            await using (await DatabaseWait.OpenAsync(ConnectionString(guestPort, SuperUser, guestCredentials.SuperUserPassword, "postgres"),
                started, startupTimeout, $"The embedded PostgreSQL in {dataDir}", ct))
            {
            }
            return new EmbeddedPostgres(root, binDir, runAsUser, null, guestPort, guestCredentials);
        }

        try
        {
            Credentials credentials;
            if (!File.Exists(Path.Combine(dataDir, "PG_VERSION")))
            {
                credentials = Credentials.Generate();
                await InitClusterAsync(root, dataDir, binDir, runAsUser, credentials, ct);
                WriteCredentials(credentialsFile, credentials);
            }
            else
            {
                credentials = ReadCredentials(credentialsFile);
            }

            var port = await EnsureServerAsync(dataDir, binDir, runAsUser, credentials, started, startupTimeout, ct);
            var cluster = new EmbeddedPostgres(root, binDir, runAsUser, ownerLock, port, credentials);
            await cluster.EnsureRolesAndDatabaseAsync(credentials, started, startupTimeout, ct);
            return cluster;
        }
        catch
        {
            await ownerLock.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server at once, keeping its data (tests: the database going away under a running app).</summary>
    internal Task<int> StopServerAsync(CancellationToken ct) =>
        RunAsync(_binDir, "pg_ctl", ["stop", "-D", _dataDir, "-m", "immediate", "-w", "-t", "60"], _runAsUser, ct, throwOnError: false);

    /// <summary>Starts the stopped server again on its port (tests: the database coming back).</summary>
    internal Task<int> StartServerAgainAsync(CancellationToken ct) =>
        RunAsync(_binDir, "pg_ctl",
            ["start", "-D", _dataDir, "-l", Path.Combine(_dataDir, "server.log"), "-w", "-t", "60", "-o",
                $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections={MaxConnections} -c shared_buffers=128MB -c fsync=on"],
            _runAsUser, ct, throwOnError: false);

    /// <summary>
    /// Starts the server again when its postmaster died (killed, OOM) while this process owns the cluster; false when it
    /// runs, when this process does not own it, or when it cannot start yet (the dead postmaster's children still hold
    /// its shared memory: the caller tries again shortly).
    /// </summary>
    internal async Task<bool> RestartIfDeadAsync(CancellationToken ct)
    {
        if (_ownerLock is null || _disposed || (ReadPidFile(_dataDir) is { } running && IsPostgresProcess(running.Pid)))
        {
            return false;
        }
        RemoveStalePidFile(_dataDir);
        return await StartServerAgainAsync(ct) == 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_ownerLock is null)
        {
            return;
        }
        NpgsqlConnection.ClearAllPools();
        if (File.Exists(Path.Combine(_dataDir, "postmaster.pid")))
        {
            await RunAsync(_binDir, "pg_ctl", ["stop", "-D", _dataDir, "-m", "fast", "-w", "-t", "60"], _runAsUser, CancellationToken.None, throwOnError: false);
        }
        await _ownerLock.DisposeAsync();
    }

    internal static string FindBinaries(string? configuredBinDir)
    {
        static bool HasServer(string? dir) =>
            !string.IsNullOrWhiteSpace(dir) && File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

        if (!string.IsNullOrWhiteSpace(configuredBinDir))
        {
            return HasServer(configuredBinDir)
                ? configuredBinDir
                : throw new StartupException($"Dms__Database__BinDirectory '{configuredBinDir}' has no initdb/pg_ctl: point it at the PostgreSQL server binaries.");
        }

        var fromPgConfig = TryRun("pg_config", "--bindir");
        if (HasServer(fromPgConfig))
        {
            return fromPgConfig!;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HasServer(dir))
            {
                return dir;
            }
        }
        var debian = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(HasServer)
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0).FirstOrDefault()
            : null;
        return debian ?? throw new StartupException(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install them (Debian/Ubuntu: apt-get install postgresql) " +
            "or set ConnectionStrings__Dms to an existing database.");
    }

    private static async Task InitClusterAsync(string root, string dataDir, string binDir, string? runAsUser, Credentials credentials, CancellationToken ct)
    {
        if (Directory.Exists(dataDir))
        {
            // A half-made cluster from an interrupted first start: make it again.
            Directory.Delete(dataDir, recursive: true);
        }
        Directory.CreateDirectory(dataDir);
        var pwFile = Path.Combine(root, $"initdb-pw-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(pwFile, credentials.SuperUserPassword, ct);
        try
        {
            if (runAsUser is not null)
            {
                await RunAsync(null, "chown", [$"{runAsUser}:", dataDir, pwFile], null, ct);
                await RunAsync(null, "chmod", ["0700", dataDir], null, ct);
                var probe = await RunAsync(null, "runuser", ["-u", runAsUser, "--", "test", "-w", dataDir], null, ct, throwOnError: false);
                if (probe != 0)
                {
                    throw new StartupException(
                        $"The '{runAsUser}' system user cannot reach {dataDir}: set Dms__DataDirectory to a folder it can traverse (for example /var/lib/dms).");
                }
            }
            await RunAsync(binDir, "initdb",
                ["-D", dataDir, "-U", SuperUser, "--pwfile", pwFile, "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"], runAsUser, ct);
        }
        finally
        {
            File.Delete(pwFile);
        }
    }

    /// <summary>
    /// The port of a server on this data folder that answers connections: one left running by a killed owner,
    /// or one started now. The pid file alone proves nothing: after a crash of the app and its database together
    /// it can say "ready" for a postmaster that is still being torn down, and that postmaster's children keep
    /// the shared memory that makes a new server refuse to start until they are gone. Both are waited for.
    /// </summary>
    private static async Task<int> EnsureServerAsync(string dataDir, string binDir, string? runAsUser, Credentials credentials,
        long started, TimeSpan budget, CancellationToken ct)
    {
        var problem = "";
        while (true)
        {
            var pidFile = ReadPidFile(dataDir);
            if (pidFile is { } running && IsPostgresProcess(running.Pid))
            {
                if (running.Status == "ready" && await AnswersAsync(running.Port, credentials, ct))
                {
                    return running.Port;
                }
                problem = $"the server (pid {running.Pid}, status '{running.Status}') does not answer yet";
            }
            else
            {
                RemoveStalePidFile(dataDir);
                var remaining = budget - Stopwatch.GetElapsedTime(started);
                var (port, failure) = await TryStartServerAsync(dataDir, binDir, runAsUser, Math.Max(5, (int)remaining.TotalSeconds), ct);
                if (port is not null)
                {
                    return port.Value;
                }
                problem = failure;
            }
            if (Stopwatch.GetElapsedTime(started) >= budget)
            {
                throw new StartupException(
                    $"The embedded PostgreSQL in {dataDir} did not come up within {budget.TotalSeconds:0.#} s (Dms__Database__StartupTimeout): {problem}");
            }
            await Task.Delay(250, ct);
        }
    }

    private static async Task<bool> AnswersAsync(int port, Credentials credentials, CancellationToken ct)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(ConnectionString(port, SuperUser, credentials.SuperUserPassword, "postgres"))
        {
            Timeout = 5,
            Pooling = false,
        }.ConnectionString;
        try
        {
            await using var conn = new NpgsqlConnection(connectionString);
            await conn.OpenAsync(ct);
            return true;
        }
        catch (Exception ex) when (DatabaseWait.IsTransient(ex))
        {
            return false;
        }
    }

    private static async Task<(int? Port, string Failure)> TryStartServerAsync(string dataDir, string binDir, string? runAsUser, int waitSeconds, CancellationToken ct)
    {
        var port = FreeTcpPort();
        var logFile = Path.Combine(dataDir, "server.log");
        var options = $"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections={MaxConnections} -c shared_buffers=128MB -c fsync=on";
        var exit = await RunAsync(binDir, "pg_ctl",
            ["start", "-D", dataDir, "-l", logFile, "-w", "-t", waitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "-o", options],
            runAsUser, ct, throwOnError: false);
        if (exit == 0)
        {
            return (port, "");
        }
        var tail = File.Exists(logFile) ? string.Join(" | ", File.ReadLines(logFile).TakeLast(3)) : "(no server log)";
        return (null, $"pg_ctl start exited with {exit}: {tail}");
    }

    private static (int Pid, int Port, string Status)? ReadPidFile(string dataDir)
    {
        var pidFile = Path.Combine(dataDir, "postmaster.pid");
        string[] lines;
        try
        {
            lines = File.ReadAllLines(pidFile);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
        if (lines.Length < 4 || !int.TryParse(lines[0], out var pid) || !int.TryParse(lines[3], out var port))
        {
            return null;
        }
        return (pid, port, lines.Length >= 8 ? lines[7].Trim() : "");
    }

    /// <summary>The port of a server already running on this data folder (left by a killed owner), or null.</summary>
    private static int? RunningServerPort(string dataDir) =>
        ReadPidFile(dataDir) is { } running && IsPostgresProcess(running.Pid) && running.Status == "ready" ? running.Port : null;

    private static void RemoveStalePidFile(string dataDir)
    {
        var pidFile = Path.Combine(dataDir, "postmaster.pid");
        if (File.Exists(pidFile) && (!int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid) || !IsPostgresProcess(pid)))
        {
            File.Delete(pidFile);
        }
    }

    private static bool IsPostgresProcess(int pid)
    {
        try
        {
            var comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
            // A killed postmaster not yet reaped is a zombie that still carries its name: it is gone all the same.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat.LastIndexOf(')') is var close and > 0 && close + 2 < stat.Length ? stat[close + 2] : '?';
            return comm is "postgres" or "postmaster" && state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static async Task<int> WaitForRunningServerPortAsync(string dataDir, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            if (RunningServerPort(dataDir) is { } port)
            {
                return port;
            }
            await Task.Delay(200, ct);
        }
        throw new StartupException($"Another process holds {dataDir} but its PostgreSQL server did not come up within 2 minutes.");
    }

    /// <summary>
    /// Another database in this cluster, set up like the default one (owner <c>dms_owner</c>, runtime role
    /// <c>dms_app</c>): isolated application instances side by side, as the test suite runs them.
    /// </summary>
    public async Task<(string App, string Owner)> CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        if (!name.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch == '_'))
        {
            throw new ArgumentException("Database names are lower-case letters, digits and '_'.", nameof(name));
        }
        var credentials = ReadCredentials(Path.Combine(_root, "credentials.json"));
        await using var conn = new NpgsqlConnection(ConnectionString(Port, SuperUser, credentials.SuperUserPassword, "postgres"));
        await conn.OpenAsync(ct);
        foreach (var sql in new[]
        {
            $"CREATE DATABASE {name} OWNER {OwnerRole} ENCODING 'UTF8' TEMPLATE template0",
            $"REVOKE ALL ON DATABASE {name} FROM PUBLIC",
            $"GRANT CONNECT ON DATABASE {name} TO {AppRole}",
        })
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        return (ConnectionString(Port, AppRole, credentials.AppPassword, name), ConnectionString(Port, OwnerRole, credentials.OwnerPassword, name));
    }

    private async Task EnsureRolesAndDatabaseAsync(Credentials credentials, long started, TimeSpan budget, CancellationToken ct)
    {
        await using var conn = await DatabaseWait.OpenAsync(ConnectionString(Port, SuperUser, credentials.SuperUserPassword, "postgres"),
            started, budget, $"The embedded PostgreSQL in {_dataDir}", ct);
        async Task Exec(string sql)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        async Task<bool> Exists(string sql)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            return await cmd.ExecuteScalarAsync(ct) is not null;
        }

        if (!await Exists($"SELECT 1 FROM pg_roles WHERE rolname = '{OwnerRole}'"))
        {
            await Exec($"CREATE ROLE {OwnerRole} LOGIN CREATEROLE PASSWORD '{credentials.OwnerPassword}'");
        }
        if (!await Exists($"SELECT 1 FROM pg_roles WHERE rolname = '{AppRole}'"))
        {
            await Exec($"CREATE ROLE {AppRole} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '{credentials.AppPassword}'");
        }
        if (!await Exists($"SELECT 1 FROM pg_database WHERE datname = '{DatabaseName}'"))
        {
            await Exec($"CREATE DATABASE {DatabaseName} OWNER {OwnerRole} ENCODING 'UTF8' TEMPLATE template0");
            await Exec($"REVOKE ALL ON DATABASE {DatabaseName} FROM PUBLIC");
            await Exec($"GRANT CONNECT ON DATABASE {DatabaseName} TO {AppRole}");
        }
    }

    private static string ConnectionString(int port, string user, string password, string database = DatabaseName) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = user,
            Password = password,
            Database = database,
            MaxPoolSize = 50,
        }.ConnectionString;

    private static FileStream? TryTakeOwnerLock(string path)
    {
        try
        {
            // FileShare.None is an exclusive flock on Unix; the kernel drops it when the process dies.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? TryRun(string file, string args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true });
            if (process is null)
            {
                return null;
            }
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static async Task<int> RunAsync(string? binDir, string program, IReadOnlyList<string> args, string? runAsUser, CancellationToken ct, bool throwOnError = true)
    {
        var executable = binDir is null ? program : Path.Combine(binDir, program);
        var startInfo = new ProcessStartInfo
        {
            FileName = runAsUser is null ? executable : "runuser",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The server's working directory must be readable by the user it runs as.
            WorkingDirectory = "/",
        };
        if (runAsUser is not null)
        {
            foreach (var a in new[] { "-u", runAsUser, "--", executable })
            {
                startInfo.ArgumentList.Add(a);
            }
        }
        foreach (var a in args)
        {
            startInfo.ArgumentList.Add(a);
        }
        using var process = Process.Start(startInfo) ?? throw new StartupException($"Could not start {program}.");
        // pg_ctl start leaves the server holding inherited pipes open; read them without waiting for EOF.
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0 && throwOnError)
        {
            string message;
            lock (stderr)
            {
                message = stderr.ToString().Trim().ReplaceLineEndings(" | ");
            }
            throw new StartupException($"{program} failed (exit {process.ExitCode}): {message}");
        }
        return process.ExitCode;
    }

    private static Credentials ReadCredentials(string file)
    {
        if (!File.Exists(file))
        {
            throw new StartupException($"{file} is missing: the embedded cluster's credentials are gone; remove the data folder to start afresh.");
        }
        return JsonSerializer.Deserialize<Credentials>(File.ReadAllText(file))
            ?? throw new StartupException($"{file} is unreadable.");
    }

    private static void WriteCredentials(string file, Credentials credentials)
    {
        var temp = file + ".tmp";
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            JsonSerializer.Serialize(stream, credentials);
        }
        File.Move(temp, file, overwrite: true);
    }

    internal sealed record Credentials(string SuperUserPassword, string OwnerPassword, string AppPassword)
    {
        public static Credentials Generate() => new(Secret(), Secret(), Secret());

        // Hex keeps the passwords safe to embed in SQL literals and connection strings.
        private static string Secret() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
    }
}

/// <summary>A start-up failure with one line for the operator; printed without a stack trace.</summary>
internal sealed class StartupException(string message) : Exception(message);
