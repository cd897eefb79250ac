using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dapper;
using Dms.Platform.Database;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Replica;

/// <summary>
/// An app with a real streaming replica of its database (<see cref="ReplicaServer"/>, ADR 0035). The tests of the class
/// share the replica and run one after another; each leaves it running and replaying.
/// </summary>
public sealed class ReplicaFixture : IAsyncLifetime
{
    internal ReplicaServer Replica { get; private set; } = null!;
    internal DmsApp App { get; private set; } = null!;
    internal TestTenant Tenant { get; private set; } = null!;
    internal ReadCounter Reads { get; } = new();

    public async Task InitializeAsync()
    {
        Replica = await ReplicaServer.StartAsync();
        App = await DmsApp.CreateIsolatedAsync($"replica_{Guid.NewGuid():N}"[..16], new Dictionary<string, string>
        {
            ["ConnectionStrings:DmsReplica"] = Replica.ForApp,
            ["Dms:Replica:SampleInterval"] = "00:00:00.100",
            ["Dms:Replica:UnhealthyFor"] = "00:00:01",
            // Only the token keeps a writer's reads fresh in these tests: lag alone would not send them to the primary in time.
            ["Dms:Replica:MaxLagSeconds"] = "300",
            ["Dms:Previews:Enabled"] = "false",
        });
        Tenant = await App.CreateTenantAsync();
    }

    public async Task DisposeAsync()
    {
        Reads.Dispose();
        await App.DisposeAsync();
        await Replica.DisposeAsync();
    }
}

/// <summary>Counts <c>dms.db.reads</c> by target and reason, as the app records them.</summary>
internal sealed class ReadCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counts = new();

    public ReadCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Dms" && instrument.Name == "dms.db.reads")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? target = null, reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "target")
                {
                    target = tag.Value as string;
                }
                else if (tag.Key == "reason")
                {
                    reason = tag.Value as string;
                }
            }
            _counts.AddOrUpdate(reason is null ? target! : $"{target}:{reason}", value, (_, v) => v + value);
        });
        _listener.Start();
    }

    /// <summary><c>replica</c>, or <c>primary:token</c>, <c>primary:lag</c>, <c>primary:down</c>.</summary>
    public long this[string key] => _counts.GetValueOrDefault(key);

    public void Dispose() => _listener.Dispose();
}

public sealed class ReplicaTests(ReplicaFixture f) : IClassFixture<ReplicaFixture>
{
    private DmsApp App => f.App;
    private string Database => new NpgsqlConnectionStringBuilder(App.AppConnectionString).Database!;

    private static async Task<Guid> UploadAsync(HttpClient client, string title)
    {
        using var response = await client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text($"text of {title}"), title));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    /// <summary>A client of the tenant's admin that keeps no cookies: an API client that echoes nothing unless told to.</summary>
    private HttpClient BareClient(SignedIn who)
    {
        var client = App.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = false });
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", who.Tokens.AccessToken);
        return client;
    }

    /// <summary>Scans of <paramref name="table"/> counted by the server of <paramref name="connectionString"/> for the app's database, once every backend has reported.</summary>
    private async Task<long> DocumentScansAsync(string connectionString, string table = "documents")
    {
        // Backends report their table statistics when they end (or after a pause): end the app's idle connections first.
        App.Service<ReplicaDatabase>().Source.Clear();
        App.Service<NpgsqlDataSource>().Clear();
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        long last = -1;
        var stable = 0;
        var clock = Stopwatch.StartNew();
        // The count settles once the ended backends' reports are in: read it until it stops moving.
        while (clock.Elapsed < TimeSpan.FromSeconds(10) && stable < 2)
        {
            await conn.ExecuteAsync("SELECT pg_stat_clear_snapshot()");
            var now = await conn.ExecuteScalarAsync<long>(
                "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)::bigint FROM pg_stat_user_tables WHERE relname = @table", new { table });
            stable = now == last ? stable + 1 : 0;
            last = now;
            await Task.Delay(200);
        }
        return last;
    }

    private string PrimarySuperUser => new NpgsqlConnectionStringBuilder(f.Replica.SuperUser(Database)) { Port = new NpgsqlConnectionStringBuilder(App.AppConnectionString).Port }.ConnectionString;

    [Fact]
    public async Task Get_requests_read_on_the_replica_which_counts_the_scans_the_primary_does_not()
    {
        var admin = f.Tenant.Admin.Client;
        var marker = $"burst{Guid.NewGuid():N}"[..16];
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await UploadAsync(admin, $"{marker} number {i}"));
        }
        var replicaBefore = await DocumentScansAsync(f.Replica.SuperUser(Database));
        var primaryBefore = await DocumentScansAsync(PrimarySuperUser);
        var readsBefore = f.Reads["replica"];

        const int rounds = 10;
        for (var i = 0; i < rounds; i++)
        {
            using var list = await admin.GetAsync("/api/v1/documents?limit=10");
            await list.ShouldHaveStatusAsync(HttpStatusCode.OK);
            using var search = await admin.GetAsync($"/api/v1/documents?q={marker}");
            await search.ShouldHaveStatusAsync(HttpStatusCode.OK);
            using var one = await admin.GetAsync($"/api/v1/documents/{ids[i % ids.Count]}");
            await one.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        var replicaScans = await DocumentScansAsync(f.Replica.SuperUser(Database)) - replicaBefore;
        var primaryScans = await DocumentScansAsync(PrimarySuperUser) - primaryBefore;
        replicaScans.ShouldBeGreaterThanOrEqualTo(3 * rounds, "every list, search and read by id scanned documents on the replica");
        primaryScans.ShouldBeLessThan(replicaScans, "the primary served (nearly) none of them");
        (f.Reads["replica"] - readsBefore).ShouldBeGreaterThanOrEqualTo(3 * rounds);
    }

    [Fact]
    public async Task The_approval_queue_reads_on_the_replica()
    {
        var admin = f.Tenant.Admin.Client;
        var id = await UploadAsync(admin, "queued for deletion");
        // A member asks, so the admin can decide (nobody decides their own request).
        var member = await f.Tenant.CreateUserAsync("Member");
        using (var request = await member.Client.PostAsJsonAsync($"/api/v1/documents/{id}/delete-requests", new { reason = "replica queue" }))
        {
            await request.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        var replicaBefore = await DocumentScansAsync(f.Replica.SuperUser(Database), "approval_requests");
        var primaryBefore = await DocumentScansAsync(PrimarySuperUser, "approval_requests");

        const int rounds = 10;
        for (var i = 0; i < rounds; i++)
        {
            using var queue = await admin.GetAsync("/api/v1/approvals?status=Pending");
            await queue.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        var replicaScans = await DocumentScansAsync(f.Replica.SuperUser(Database), "approval_requests") - replicaBefore;
        var primaryScans = await DocumentScansAsync(PrimarySuperUser, "approval_requests") - primaryBefore;
        replicaScans.ShouldBeGreaterThanOrEqualTo(rounds, "every read of the queue scanned approval requests on the replica");
        primaryScans.ShouldBeLessThan(replicaScans, "the primary served (nearly) none of them");
    }

    [Fact]
    public async Task Parallel_writers_read_their_own_writes_while_the_replica_replays_nothing()
    {
        var reader = await f.Tenant.CreateUserAsync("Admin");
        var readerClient = BareClient(reader);
        var tokenReadsBefore = f.Reads["primary:token"];
        await f.Replica.PauseReplayAsync();
        try
        {
            var stale = 0;
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async writer =>
            {
                // Three kinds of client: the browser's (cookies), one that echoes the header, one that echoes nothing
                // (this node remembers the user's token).
                var kind = writer % 3;
                using var client = kind == 0 ? App.ClientWithToken(f.Tenant.Admin.Tokens.AccessToken) : BareClient(f.Tenant.Admin);
                for (var round = 0; round < 3; round++)
                {
                    var title = $"w{writer}r{round}{Guid.NewGuid():N}"[..20];
                    using var created = await client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text(title), title));
                    await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
                    var token = created.Headers.GetValues(ReplicaConsistency.Header).Single();
                    ReplicaConsistency.TryParse(token, out _).ShouldBeTrue();
                    var id = (await created.JsonAsync()).GetProperty("id").GetGuid();

                    using var get = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{id}");
                    using var list = new HttpRequestMessage(HttpMethod.Get, "/api/v1/documents?limit=100&sort=createdAt&order=desc");
                    if (kind == 1)
                    {
                        get.Headers.Add(ReplicaConsistency.Header, token);
                        list.Headers.Add(ReplicaConsistency.Header, token);
                    }
                    using var got = await client.SendAsync(get);
                    await got.ShouldHaveStatusAsync(HttpStatusCode.OK);
                    using var listed = await client.SendAsync(list);
                    await listed.ShouldHaveStatusAsync(HttpStatusCode.OK);
                    var items = (await listed.JsonAsync()).GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetGuid()).ToList();
                    items.ShouldContain(id, $"writer {writer} (client kind {kind}) lists its own new document");

                    // Someone who wrote nothing reads the replica, which has not replayed the document: the delay is real.
                    using var other = await readerClient.GetAsync($"/api/v1/documents/{id}");
                    if (other.StatusCode == HttpStatusCode.NotFound)
                    {
                        Interlocked.Increment(ref stale);
                    }
                }
            }));
            stale.ShouldBeGreaterThan(0, "a reader without a token reads the stalled replica (else this test proves nothing)");
            (f.Reads["primary:token"] - tokenReadsBefore).ShouldBeGreaterThanOrEqualTo(8 * 3 * 2, "each writer's reads waited for the replica, then went to the primary");
        }
        finally
        {
            await f.Replica.ExecuteAsync("SELECT pg_wal_replay_resume()");
        }
    }

    [Fact]
    public async Task A_lagging_replica_gets_no_reads_without_a_token()
    {
        var reader = BareClient(await f.Tenant.CreateUserAsync("Admin"));
        var options = App.Service<ReplicaDatabase>().Options;
        var lagBefore = f.Reads["primary:lag"];
        await f.Replica.PauseReplayAsync();
        options.MaxLagSeconds = 0.5;
        try
        {
            var id = await UploadAsync(f.Tenant.Admin.Client, $"lag {Guid.NewGuid():N}");
            var replica = App.Service<ReplicaDatabase>();
            var clock = Stopwatch.StartNew();
            while (replica.LagSeconds is not > 0.5 && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(50);
            }
            replica.LagSeconds.ShouldNotBeNull().ShouldBeGreaterThan(0.5, "the sampled lag grows while the replica replays nothing");
            using var read = await reader.GetAsync($"/api/v1/documents/{id}");
            await read.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (f.Reads["primary:lag"] - lagBefore).ShouldBeGreaterThan(0);
        }
        finally
        {
            options.MaxLagSeconds = 300;
            await f.Replica.ExecuteAsync("SELECT pg_wal_replay_resume()");
        }
    }

    [Fact]
    public async Task A_killed_replica_fails_no_request_and_gets_the_reads_back_once_it_is_up()
    {
        var admin = BareClient(f.Tenant.Admin);
        var id = await UploadAsync(admin, $"before {Guid.NewGuid():N}");
        var downBefore = f.Reads["primary:down"];
        var replica = App.Service<ReplicaDatabase>();
        // The lag sampler would notice the dead replica first, and reads would never meet it: keep it asleep, so the
        // first read after the kill fails on the replica and must run again on the primary.
        replica.Options.SampleInterval = TimeSpan.FromHours(1);
        // Someone who wrote nothing: no token to check first (that check would meet the dead replica instead of the read).
        using var reader = BareClient(await f.Tenant.CreateUserAsync("Admin"));
        await Task.Delay(500);
        replica.IsHealthy.ShouldBeTrue();
        replica.LagSeconds.ShouldNotBeNull();
        await f.Replica.KillAsync();
        try
        {
            using (var first = await reader.GetAsync("/api/v1/documents?limit=5"))
            {
                await first.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            replica.IsHealthy.ShouldBeFalse("the read met the dead replica and marked it down");
            for (var i = 0; i < 5; i++)
            {
                using var list = await admin.GetAsync("/api/v1/documents?limit=5");
                await list.ShouldHaveStatusAsync(HttpStatusCode.OK);
                using var one = await admin.GetAsync($"/api/v1/documents/{id}");
                await one.ShouldHaveStatusAsync(HttpStatusCode.OK);
                using var versions = await admin.GetAsync($"/api/v1/documents/{id}/versions");
                await versions.ShouldHaveStatusAsync(HttpStatusCode.OK);
                await UploadAsync(admin, $"during {i} {Guid.NewGuid():N}");
            }
            (f.Reads["primary:down"] - downBefore).ShouldBeGreaterThanOrEqualTo(15, "every read went to the primary");
        }
        finally
        {
            replica.Options.SampleInterval = TimeSpan.FromMilliseconds(100);
            await f.Replica.StartServerAsync();
        }

        var replicaBefore = f.Reads["replica"];
        var clock = Stopwatch.StartNew();
        while (f.Reads["replica"] == replicaBefore && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            using var list = await admin.GetAsync("/api/v1/documents?limit=5");
            await list.ShouldHaveStatusAsync(HttpStatusCode.OK);
            await Task.Delay(100);
        }
        f.Reads["replica"].ShouldBeGreaterThan(replicaBefore, "reads return to the replica once it answers again");
    }

    [Fact]
    public async Task A_bad_token_is_ignored_and_the_read_runs_on_the_primary()
    {
        var admin = BareClient(f.Tenant.Admin);
        var id = await UploadAsync(admin, $"bad token {Guid.NewGuid():N}");
        var before = f.Reads["primary:token"];
        foreach (var bad in new[] { "nonsense", "1/", "/1", "G/0", "123456789/0", "0/0/0", new string('9', 200) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/documents/{id}");
            request.Headers.TryAddWithoutValidation(ReplicaConsistency.Header, bad);
            using var response = await admin.SendAsync(request);
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/documents?limit=5"))
        {
            request.Headers.Add("Cookie", $"{ReplicaConsistency.Cookie}=%00zz");
            using var response = await admin.SendAsync(request);
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (f.Reads["primary:token"] - before).ShouldBeGreaterThanOrEqualTo(8);
    }

    [Fact]
    public async Task A_write_answers_with_the_token_as_header_and_short_lived_cookie_and_metrics_show_the_lag()
    {
        using var created = await f.Tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text("cookie"), "cookie"));
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        ReplicaConsistency.TryParse(created.Headers.GetValues(ReplicaConsistency.Header).Single(), out var lsn).ShouldBeTrue();
        lsn.ShouldBeGreaterThan(0UL);
        var cookie = created.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(ReplicaConsistency.Cookie + "=", StringComparison.Ordinal));
        cookie.ShouldContain("httponly", Case.Insensitive);
        cookie.ShouldContain("samesite=lax", Case.Insensitive);
        cookie.ShouldContain("max-age=60", Case.Insensitive);

        using var metrics = await App.CreateClient().GetAsync("/metrics");
        var text = await metrics.Content.ReadAsStringAsync();
        text.ShouldContain("dms_db_replica_lag_seconds");
        text.ShouldContain("dms_db_replica_lag_bytes");
        text.ShouldContain("dms_db_replica_up");
        text.ShouldContain("dms_db_reads_total");
    }

    [Theory]
    [InlineData(0UL, "0/0")]
    [InlineData(0x16B374D848UL, "16/B374D848")]
    [InlineData(ulong.MaxValue, "FFFFFFFF/FFFFFFFF")]
    public void Tokens_are_written_and_read_as_postgresql_writes_an_lsn(ulong lsn, string text)
    {
        ReplicaConsistency.Format(lsn).ShouldBe(text);
        ReplicaConsistency.TryParse(text, out var parsed).ShouldBeTrue();
        parsed.ShouldBe(lsn);
        ReplicaConsistency.TryParse(text.ToLowerInvariant(), out parsed).ShouldBeTrue();
        parsed.ShouldBe(lsn);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("/0")]
    [InlineData("0/")]
    [InlineData("x/0")]
    [InlineData("-1/0")]
    [InlineData("100000000/0")]
    [InlineData("0/100000000")]
    [InlineData("0/0/0")]
    [InlineData(" 0/0")]
    public void Anything_else_is_no_token(string text) => ReplicaConsistency.TryParse(text, out _).ShouldBeFalse();
}
