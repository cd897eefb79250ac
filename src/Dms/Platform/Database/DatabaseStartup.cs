using Dapper;
using Dms.Platform.Configuration;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Platform.Database;

/// <summary>
/// Where the application's database is, once start-up has found or started it. Disposed with the host,
/// which stops the embedded cluster on a clean shutdown (SIGTERM, Ctrl+C).
/// </summary>
internal sealed class DatabaseConnections : IAsyncDisposable
{
    private string? _app;
    private string? _owner;
    private string? _direct;

    public string App => _app ?? throw new InvalidOperationException("The database has not been started yet.");
    public string Owner => _owner ?? throw new InvalidOperationException("The database has not been started yet.");

    /// <summary>The runtime role's connection for session-level work (ADR 0034): <c>ConnectionStrings__DmsDirect</c>, else <see cref="App"/>.</summary>
    public string Direct => _direct ?? App;
    public EmbeddedPostgres? Embedded { get; private set; }

    public void Set(string app, string owner, EmbeddedPostgres? embedded, string? direct = null)
    {
        _app = app;
        _direct = string.IsNullOrWhiteSpace(direct) ? null : direct;
        _owner = owner;
        Embedded = embedded;
    }

    public async ValueTask DisposeAsync()
    {
        if (Embedded is not null)
        {
            await Embedded.DisposeAsync();
        }
    }
}

/// <summary>
/// Start-up of the data layer: the embedded cluster when no connection string is given, migrations as the
/// owner, then a check that the runtime role cannot bypass row-level security.
/// </summary>
internal sealed class DatabaseStartup(
    IConfiguration configuration,
    IOptions<DmsOptions> options,
    DatabaseConnections connections,
    ILogger<DatabaseStartup> logger)
{
    public async Task StartAsync(Func<NpgsqlConnection, Task>? afterMigrations, CancellationToken ct)
    {
        var app = configuration.GetConnectionString("Dms");
        var owner = configuration.GetConnectionString("DmsOwner");
        EmbeddedPostgres? embedded = null;
        if (string.IsNullOrWhiteSpace(app))
        {
            var root = Path.Combine(options.Value.DataDirectoryFullPath, "postgres");
            embedded = await EmbeddedPostgres.StartAsync(root, options.Value.Database.BinDirectory, options.Value.Database.StartupTimeout, ct);
            logger.LogInformation("Embedded PostgreSQL {Mode} on 127.0.0.1:{Port} with data in {Root}",
                embedded.IsOwner ? "started" : "joined", embedded.Port, root);
            app = embedded.AppConnectionString;
            owner = embedded.OwnerConnectionString;
        }
        else if (string.IsNullOrWhiteSpace(owner))
        {
            owner = app;
        }
        // Without ConnectionStrings__Dms (embedded cluster) there is no PgBouncer in front, so direct is the runtime string.
        connections.Set(app, owner!, embedded, embedded is null ? configuration.GetConnectionString("DmsDirect") : null);

        // An external server may be restarting or replaying its WAL: wait for it within the same budget, so
        // that the migrations below meet a server that answers, and a dead one ends in one clear line.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var ownerBuilder = new NpgsqlConnectionStringBuilder(owner);
        await using (await DatabaseWait.OpenAsync(owner!, started, options.Value.Database.StartupTimeout,
            $"The database at {ownerBuilder.Host}:{ownerBuilder.Port}", ct))
        {
        }

        var applied = await MigrationRunner.MigrateAsync(owner!, MigrationRunner.EmbeddedMigrations(), afterMigrations, ct);
        logger.LogInformation("Database schema up to date ({Applied} migration(s) applied now)", applied);
        await CheckRuntimeRoleAsync(app, ct);
        if (connections.Direct != app)
        {
            await CheckRuntimeRoleAsync(connections.Direct, ct);
        }
    }

    private static async Task CheckRuntimeRoleAsync(string app, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(app);
        await conn.OpenAsync(ct);
        // Owning a tenant table is as bad: the owner can switch row-level security off, and the owner's own
        // policies (outbox_messages, ADR 0012) see every tenant.
        var role = await conn.QuerySingleAsync<(string Name, bool Super, bool Bypass, bool Owner)>("""
            SELECT rolname, rolsuper, rolbypassrls,
                   EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'public' AND c.relrowsecurity AND pg_has_role(current_user, c.relowner, 'MEMBER'))
            FROM pg_roles WHERE rolname = current_user
            """);
        if (role.Super || role.Bypass || role.Owner)
        {
            throw new StartupException(
                $"The runtime database role '{role.Name}' is a superuser, has BYPASSRLS or owns the schema's tables, which switches off tenant isolation: " +
                "give ConnectionStrings__Dms (and ConnectionStrings__DmsDirect) a plain role that is a member of dms_app and ConnectionStrings__DmsOwner the schema owner.");
        }
    }
}
