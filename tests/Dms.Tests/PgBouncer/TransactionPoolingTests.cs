using System.Net;
using Dapper;
using Dms.Platform.Database;
using Dms.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Dms.Tests.PgBouncer;

/// <summary>
/// An app whose runtime connection goes through a PgBouncer of its own in transaction mode with at most
/// <see cref="PoolSize"/> server sessions: many more client connections than sessions only work if each transaction
/// is handed a server session of its own (in session mode the extra clients would wait for a session that never frees).
/// </summary>
public sealed class PgBouncerFixture : IAsyncLifetime
{
    public const int PoolSize = 3;

    internal PgBouncerServer Bouncer { get; private set; } = null!;
    internal DmsApp App { get; private set; } = null!;
    internal TestTenant First { get; private set; } = null!;
    internal TestTenant Second { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Bouncer = await PgBouncerServer.StartAsync(PoolSize);
        App = await DmsApp.CreateIsolatedAsync($"pgb_{Guid.NewGuid():N}"[..16], new Dictionary<string, string>(), bouncer: Bouncer);
        First = await App.CreateTenantAsync();
        Second = await App.CreateTenantAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

public sealed class TransactionPoolingTests(PgBouncerFixture fixture) : IClassFixture<PgBouncerFixture>
{
    private string Database => new NpgsqlConnectionStringBuilder(fixture.App.AppConnectionString).Database!;

    [Fact]
    public async Task The_apps_connections_share_a_few_server_sessions_in_transaction_mode()
    {
        var runtime = new NpgsqlConnectionStringBuilder(fixture.App.Service<NpgsqlDataSource>().ConnectionString);
        Assert.Equal(fixture.Bouncer.Port, runtime.Port);

        // Eight client connections of the app's own pool, all open at once: each transaction gets one of at most three sessions.
        var source = fixture.App.Service<NpgsqlDataSource>();
        var held = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                held.Add(await source.OpenConnectionAsync());
            }
            var pids = new HashSet<int>();
            foreach (var conn in held)
            {
                pids.Add(await conn.ExecuteScalarAsync<int>("SELECT pg_backend_pid()"));
            }
            Assert.InRange(pids.Count, 1, PgBouncerFixture.PoolSize);
        }
        finally
        {
            foreach (var conn in held)
            {
                await conn.DisposeAsync();
            }
        }

        var pools = (await fixture.Bouncer.AdminAsync("SHOW POOLS")).Where(p => p["database"] == Database && p["user"] == "dms_app").ToList();
        Assert.Equal("transaction", Assert.Single(pools)["pool_mode"]);
    }

    [Fact]
    public async Task Concurrent_requests_of_two_tenants_through_shared_sessions_each_see_only_their_own_documents()
    {
        var marker = Guid.NewGuid().ToString("N")[..10];
        var uploads = Enumerable.Range(0, 16).Select(async i =>
        {
            var tenant = i % 2 == 0 ? fixture.First : fixture.Second;
            var title = $"{(i % 2 == 0 ? "first" : "second")}-{marker}-{i}";
            using var response = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form($"{title}.txt", Uploads.Text(title), title));
            await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        });
        await Task.WhenAll(uploads);

        var lists = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            (i % 2 == 0 ? fixture.First : fixture.Second).Admin.Client.GetStringAsync("/api/v1/documents?limit=200")));
        for (var i = 0; i < lists.Length; i++)
        {
            var (own, other) = i % 2 == 0 ? ("first", "second") : ("second", "first");
            for (var n = i % 2; n < 16; n += 2)
            {
                Assert.Contains($"\"{own}-{marker}-{n}\"", lists[i], StringComparison.Ordinal);
            }
            Assert.DoesNotContain($"{other}-{marker}-", lists[i], StringComparison.Ordinal);
        }

        // The audit trail (written in the same transactions) stayed per tenant and chained.
        foreach (var tenant in new[] { fixture.First, fixture.Second })
        {
            using var verified = await tenant.Admin.Client.GetAsync("/api/v1/audit/verify");
            await verified.ShouldHaveStatusAsync(HttpStatusCode.OK);
            Assert.True((await verified.JsonAsync()).GetProperty("valid").GetBoolean());
        }
    }

    [Fact]
    public async Task A_background_pass_holds_its_session_lock_on_a_direct_connection()
    {
        var db = fixture.App.Service<Db>();
        var key = Random.Shared.NextInt64(1L << 40, 1L << 50);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pass = db.ForEachTenantUnderLockAsync(key, async (_, _) =>
        {
            entered.TrySetResult();
            await release.Task;
        }, CancellationToken.None);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(60));

        // A second node's pass (here: the same app again) is skipped while the first holds the lock.
        Assert.Null(await db.ForEachTenantUnderLockAsync(key, (_, _) => Task.CompletedTask, CancellationToken.None));
        release.SetResult();
        Assert.True(await pass.WaitAsync(TimeSpan.FromSeconds(60)) >= 2);

        // The unlock reached the session that took the lock: nothing is left behind on any server session.
        await using var direct = new NpgsqlConnection(fixture.App.AppConnectionString);
        Assert.Equal(0, await direct.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = @key", new { key }));
        Assert.NotNull(await db.ForEachTenantUnderLockAsync(key, (_, _) => Task.CompletedTask, CancellationToken.None));
    }

    [Fact]
    public async Task With_DMS_TEST_PGBOUNCER_the_shared_apps_runtime_connection_is_pooled_in_transaction_mode()
    {
        if (!PgBouncerServer.Enabled)
        {
            return; // the main suite runs without it; test.sh runs the named subset with it
        }
        var app = await DmsApp.GetAsync();
        var bouncer = Assert.IsType<PgBouncerServer>(app.Bouncer);
        Assert.Equal(bouncer.Port, new NpgsqlConnectionStringBuilder(app.Service<NpgsqlDataSource>().ConnectionString).Port);
        Assert.NotEqual(bouncer.Port, new NpgsqlConnectionStringBuilder(app.Service<DirectDataSource>().Source.ConnectionString).Port);
        var tenant = await app.CreateTenantAsync();
        using var listed = await tenant.Admin.Client.GetAsync("/api/v1/documents");
        await listed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var database = new NpgsqlConnectionStringBuilder(app.AppConnectionString).Database;
        var pool = Assert.Single(await bouncer.AdminAsync("SHOW POOLS"), p => p["database"] == database && p["user"] == "dms_app");
        Assert.Equal("transaction", pool["pool_mode"]);
    }
}
