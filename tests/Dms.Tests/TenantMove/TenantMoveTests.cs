using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dapper;
using Dms.Cli;
using Dms.Platform.Configuration;
using Dms.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.TenantMove;

/// <summary>The app whose main database tenants are moved out of; each test makes its own tenants and target databases.</summary>
public sealed class TenantMoveFixture : IAsyncLifetime
{
    internal DmsApp App { get; private set; } = null!;

    public async Task InitializeAsync() => App = await DmsApp.CreateIsolatedAsync("move", new Dictionary<string, string>());

    public async Task DisposeAsync() => await App.DisposeAsync();
}

/// <summary>
/// Issue 18 item 4 (ADR 0036): <c>tenant move</c> copies a live tenant to a database of its own, freezes its writes for the
/// last changes only, verifies and switches; writes refused meanwhile get 503 <c>tenant.moving</c> and succeed on retry.
/// </summary>
public sealed class TenantMoveTests(TenantMoveFixture fixture, ITestOutputHelper output) : IClassFixture<TenantMoveFixture>
{
    private DmsApp App => fixture.App;

    [Fact]
    public async Task A_move_under_concurrent_writes_keeps_every_acknowledged_write_exactly_once_and_never_freezes_another_tenant()
    {
        var moving = await App.CreateTenantAsync();
        var other = await App.CreateTenantAsync();
        var target = await TargetAsync("a");
        var seeded = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            seeded.Add(await UploadAsync(moving.Admin.Client, $"seed {i}"));
        }

        using var stop = new CancellationTokenSource();
        var movingWrites = new Writer(moving.Admin.Client);
        var otherWrites = new Writer(other.Admin.Client);
        var writers = new[] { Task.Run(() => movingWrites.RunAsync(stop.Token)), Task.Run(() => otherWrites.RunAsync(stop.Token)) };
        await WaitUntilAsync(() => movingWrites.Acknowledged.Count >= 3 && otherWrites.Acknowledged.Count >= 3, "the writers to get going");

        var (exit, stdout, stderr) = await MoveAsync(moving.Slug, target.Owner);
        output.WriteLine(stdout + stderr);
        exit.ShouldBe(0, stderr);

        // Writes after the switch go to the new database.
        var afterMove = movingWrites.Acknowledged.Count;
        await WaitUntilAsync(() => movingWrites.Acknowledged.Count >= afterMove + 3, "writes after the move");
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        output.WriteLine($"moving tenant: {movingWrites.Acknowledged.Count} writes acknowledged, {movingWrites.Refused} refused with 503 tenant.moving; " +
            $"other tenant: {otherWrites.Acknowledged.Count} writes, {otherWrites.Refused} refused");

        otherWrites.Refused.ShouldBe(0, "another tenant is never frozen");
        otherWrites.Failures.ShouldBeEmpty();
        movingWrites.Failures.ShouldBeEmpty();

        // Every acknowledged write is in the new database exactly once, with the title it was last acknowledged with.
        await using var conn = await OpenAsTenantAsync(target.Owner, moving.Id);
        var titles = (await conn.QueryAsync<(Guid Id, string Title)>("SELECT id, title FROM documents WHERE tenant_id = @t", new { t = moving.Id })).ToList();
        titles.Select(t => t.Id).Distinct().Count().ShouldBe(titles.Count);
        var byId = titles.ToDictionary(t => t.Id, t => t.Title);
        foreach (var id in seeded)
        {
            byId.ShouldContainKey(id);
        }
        foreach (var (id, title) in movingWrites.Acknowledged)
        {
            byId.ShouldContainKey(id, $"acknowledged write {id} is missing from the new database");
            byId[id].ShouldBe(title);
        }
        byId.Count.ShouldBe(seeded.Count + movingWrites.Acknowledged.Count, "no document that was never acknowledged");
        // The counter (its row and its not yet folded deltas, ADR 0039) was copied as it was, not counted again by the
        // target's triggers.
        var (used, versions) = await conn.QuerySingleAsync<(long, long)>("""
            SELECT (SELECT used_bytes FROM storage_usage WHERE tenant_id = @t)
                   + (SELECT coalesce(sum(used_delta), 0)::bigint FROM storage_usage_deltas WHERE tenant_id = @t),
                   (SELECT coalesce(sum(v.size), 0)::bigint FROM document_versions v WHERE v.tenant_id = @t)
            """, new { t = moving.Id });
        used.ShouldBe(versions);
        // The API serves the same documents (from the new database).
        var listed = await (await moving.Admin.Client.GetAsync("/api/v1/documents?limit=200")).JsonAsync();
        listed.GetProperty("items").GetArrayLength().ShouldBe(byId.Count);
    }

    [Fact]
    public async Task After_a_move_a_second_node_reads_writes_and_executes_approvals_in_the_new_database()
    {
        var tenant = await App.CreateTenantAsync();
        var member = await tenant.CreateUserAsync("Member");
        var target = await TargetAsync("b");
        var document = await UploadAsync(tenant.Admin.Client, "before the move");
        var (exit, _, stderr) = await MoveAsync(tenant.Slug, target.Owner);
        exit.ShouldBe(0, stderr);

        await using var node = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("ConnectionStrings:Dms", App.AppConnectionString);
            builder.UseSetting("ConnectionStrings:DmsOwner", App.OwnerConnectionString);
            builder.UseSetting("Dms:DataDirectory", App.DataDirectory);
            builder.UseSetting("Dms:Platform:ApiKey", DmsApp.PlatformKey);
            builder.UseSetting("Dms:Previews:Enabled", "false");
            builder.UseSetting("Dms:Metrics:SampleInterval", "01:00:00");
            builder.UseSetting("Dms:Outbox:PollInterval", "00:00:00.100");
            builder.UseSetting("Dms:Uploads:MaxBytes", DmsApp.MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            builder.UseSetting("Logging:LogLevel:Default", "Warning");
        });
        using var admin = Client(node, tenant.Admin.Tokens.AccessToken);
        using var asMember = Client(node, member.Tokens.AccessToken);

        // Reads: the document copied from the main database.
        (await admin.GetAsync($"/api/v1/documents/{document}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        // Writes: a new document lands in the new database only.
        var written = await UploadAsync(admin, "on node two after the move");
        (await CountAsync(target.Owner, tenant.Id, written)).ShouldBe(1);
        (await CountAsync(App.OwnerConnectionString, tenant.Id, written)).ShouldBe(0);

        // The outbox of the new database executes an approval decided on node two.
        using var requested = await asMember.PostAsJsonAsync($"/api/v1/documents/{document}/delete-requests", new { reason = "moved" });
        await requested.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approvalId = (await requested.JsonAsync()).GetProperty("id").GetGuid();
        using (var approved = await admin.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" }))
        {
            await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        await WaitUntilAsync(async () => (await (await admin.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync()).GetProperty("status").GetString() == "Executed",
            "the approval to be executed");
        await (await admin.GetAsync($"/api/v1/documents/{document}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        // The audit events written in the new database are chained there (its chainer sweeps every tenant database), and
        // the verification and export read the new database.
        await WaitUntilAsync(async () =>
        {
            var verify = await (await admin.GetAsync("/api/v1/audit/verify")).JsonAsync();
            return verify.GetProperty("valid").GetBoolean() && verify.GetProperty("unchained").GetInt64() == 0;
        }, "the moved tenant's audit events to be chained in its new database");
        await using (var moved = await OpenAsTenantAsync(target.Owner, tenant.Id))
        {
            (await moved.ExecuteScalarAsync<long>("SELECT count(*) FROM audit_events WHERE tenant_id = @t AND seq IS NULL", new { t = tenant.Id })).ShouldBe(0);
            (await moved.ExecuteScalarAsync<long>("SELECT count(*) FROM audit_events WHERE tenant_id = @t AND action = 'approval.executed'", new { t = tenant.Id })).ShouldBe(1);
        }
        (await (await admin.GetAsync("/api/v1/audit/export?format=csv")).Content.ReadAsStringAsync()).ShouldContain("approval.executed");
        // The main database's copy was left behind untouched.
        await using var main = await OpenAsTenantAsync(App.OwnerConnectionString, tenant.Id);
        (await main.ExecuteScalarAsync<string>("SELECT status FROM documents WHERE id = @document", new { document })).ShouldBe("Active");
    }

    [Theory]
    [InlineData("copy")]
    [InlineData("delta")]
    [InlineData("verify")]
    public async Task A_failure_mid_move_rolls_back_and_the_tenant_keeps_working_at_home(string step)
    {
        var tenant = await App.CreateTenantAsync();
        var target = await TargetAsync($"c_{step}");
        var before = await UploadAsync(tenant.Admin.Client, "before");
        var testing = App.Service<IOptions<DmsOptions>>().Value.Testing;
        testing.FailTenantMoveAt = step;
        int exit;
        string stderr;
        try
        {
            (exit, _, stderr) = await MoveAsync(tenant.Slug, target.Owner);
        }
        finally
        {
            testing.FailTenantMoveAt = "";
        }
        output.WriteLine(stderr);
        exit.ShouldBe(1);
        stderr.ShouldContain("fault injection");

        await using (var main = await OpenAsTenantAsync(App.OwnerConnectionString, tenant.Id))
        {
            (await main.ExecuteScalarAsync<string?>("SELECT state FROM tenant_placements WHERE tenant = @t", new { t = tenant.Id }) ?? "Home").ShouldBe("Home");
        }
        // Nothing of the tenant is left in the target.
        await using (var copy = await OpenAsTenantAsync(target.Owner, tenant.Id))
        {
            (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM documents WHERE tenant_id = @t", new { t = tenant.Id })).ShouldBe(0);
            (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM audit_events WHERE tenant_id = @t", new { t = tenant.Id })).ShouldBe(0);
            (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM tenants WHERE id = @t", new { t = tenant.Id })).ShouldBe(0);
        }
        // The tenant keeps working on the main database.
        var after = await UploadAsync(tenant.Admin.Client, "after the failed move");
        (await CountAsync(App.OwnerConnectionString, tenant.Id, after)).ShouldBe(1);
        (await CountAsync(App.OwnerConnectionString, tenant.Id, before)).ShouldBe(1);
        // And a second attempt succeeds.
        var (again, _, againError) = await MoveAsync(tenant.Slug, target.Owner);
        again.ShouldBe(0, againError);
        (await CountAsync(target.Owner, tenant.Id, after)).ShouldBe(1);
    }

    [Fact]
    public async Task Bad_input_gets_a_clear_error_and_a_failing_exit_code()
    {
        var tenant = await App.CreateTenantAsync();
        var target = await TargetAsync("d");

        var unknown = await MoveAsync("no-such-tenant", target.Owner);
        unknown.Exit.ShouldBe(1);
        unknown.Stderr.ShouldContain("No tenant with slug 'no-such-tenant'");

        var unreachable = await MoveAsync(tenant.Slug, "Host=127.0.0.1;Port=1;Database=nowhere;Username=x;Password=y;Timeout=3");
        unreachable.Exit.ShouldBe(1);
        unreachable.Stderr.ShouldContain("cannot be reached");
        unreachable.Stderr.ShouldNotContain("Password=y");

        var same = await MoveAsync(tenant.Slug, App.OwnerConnectionString);
        same.Exit.ShouldBe(1);
        same.Stderr.ShouldContain("main database");

        var usage = await RunAsync(["--tenant", tenant.Slug]);
        usage.Exit.ShouldBe(2);
        usage.Stderr.ShouldContain("usage:");

        (await MoveAsync(tenant.Slug, target.Owner)).Exit.ShouldBe(0);
        var again = await MoveAsync(tenant.Slug, target.Owner);
        again.Exit.ShouldBe(1);
        again.Stderr.ShouldContain("already been moved");
    }

    [Fact]
    public async Task A_deletion_during_the_live_copy_is_carried_over_by_the_change_log()
    {
        var tenant = await App.CreateTenantAsync();
        var target = await TargetAsync("e");
        var document = await UploadAsync(tenant.Admin.Client, "commented");
        var kept = await CommentAsync(tenant.Admin.Client, document, "stays");
        var deleted = await CommentAsync(tenant.Admin.Client, document, "deleted while the tenant is copied");

        // After the bulk copy (the comment is in the copy), before the freeze: the runtime role deletes it under RLS.
        var (exit, stdout, stderr) = await MoveWithHookAsync(tenant.Slug, target.Owner, async step =>
        {
            if (step == "copy")
            {
                (await tenant.Admin.Client.DeleteAsync($"/api/v1/comments/{deleted}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
            }
        });
        output.WriteLine(stdout + stderr);
        exit.ShouldBe(0, stderr);
        stdout.ShouldContain("document_comments");

        await using var copy = await OpenAsTenantAsync(target.Owner, tenant.Id);
        (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM document_comments WHERE tenant_id = @t AND id = @deleted", new { t = tenant.Id, deleted })).ShouldBe(0);
        (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM document_comments WHERE tenant_id = @t AND id = @kept", new { t = tenant.Id, kept })).ShouldBe(1);
        await ShouldHaveNoChangeLogAsync(tenant.Id);
    }

    [Fact]
    public async Task Rows_written_during_the_live_copy_are_carried_over_by_the_change_log()
    {
        var tenant = await App.CreateTenantAsync();
        var target = await TargetAsync("f");
        var edited = await UploadAsync(tenant.Admin.Client, "edited during the copy");
        Guid added = default;

        var (exit, stdout, stderr) = await MoveWithHookAsync(tenant.Slug, target.Owner, async step =>
        {
            if (step == "copy")
            {
                var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{edited}") { Content = JsonContent.Create(new { title = "changed after the snapshot" }) };
                request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
                using var patched = await tenant.Admin.Client.SendAsync(request);
                await patched.ShouldHaveStatusAsync(HttpStatusCode.OK);
                added = await UploadAsync(tenant.Admin.Client, "uploaded after the snapshot");
            }
        });
        output.WriteLine(stdout + stderr);
        exit.ShouldBe(0, stderr);

        await using var copy = await OpenAsTenantAsync(target.Owner, tenant.Id);
        (await copy.ExecuteScalarAsync<string>("SELECT title FROM documents WHERE tenant_id = @t AND id = @edited", new { t = tenant.Id, edited })).ShouldBe("changed after the snapshot");
        (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM documents WHERE tenant_id = @t AND id = @added", new { t = tenant.Id, added })).ShouldBe(1);
        (await copy.ExecuteScalarAsync<long>("SELECT count(*) FROM document_versions WHERE tenant_id = @t AND document_id = @added", new { t = tenant.Id, added })).ShouldBe(1);
        await ShouldHaveNoChangeLogAsync(tenant.Id);
    }

    [Fact]
    public async Task A_target_row_changed_after_the_bulk_copy_fails_the_verification_and_the_move_rolls_back()
    {
        var tenant = await App.CreateTenantAsync();
        var target = await TargetAsync("g");
        var document = await UploadAsync(tenant.Admin.Client, "tampered in the target");

        var (exit, _, stderr) = await MoveWithHookAsync(tenant.Slug, target.Owner, async step =>
        {
            if (step == "copy")
            {
                await using var copy = await OpenAsTenantAsync(target.Owner, tenant.Id);
                (await copy.ExecuteAsync("UPDATE documents SET title = 'tampered' WHERE tenant_id = @t AND id = @document", new { t = tenant.Id, document })).ShouldBe(1);
            }
        });
        output.WriteLine(stderr);
        exit.ShouldBe(1);
        // The target's own triggers follow the edit (its search row), so the first table found to differ may be another.
        stderr.ShouldContain("Verification failed for table");
        stderr.ShouldContain("after the bulk copy");

        await using (var main = await OpenAsTenantAsync(App.OwnerConnectionString, tenant.Id))
        {
            (await main.ExecuteScalarAsync<string?>("SELECT state FROM tenant_placements WHERE tenant = @t", new { t = tenant.Id }) ?? "Home").ShouldBe("Home");
        }
        (await CountAsync(target.Owner, tenant.Id, document)).ShouldBe(0);
        await ShouldHaveNoChangeLogAsync(tenant.Id);
        // Still at home and writable.
        var after = await UploadAsync(tenant.Admin.Client, "after the rolled back move");
        (await CountAsync(App.OwnerConnectionString, tenant.Id, after)).ShouldBe(1);
    }

    /// <summary>A move with the tests' hook (FaultInjection.TenantMoveHook) awaited after each of its steps.</summary>
    private async Task<(int Exit, string Stdout, string Stderr)> MoveWithHookAsync(string slug, string to, Func<string, Task> hook)
    {
        var faults = App.Service<Dms.Platform.Testing.FaultInjection>();
        faults.TenantMoveHook = hook;
        try
        {
            return await MoveAsync(slug, to);
        }
        finally
        {
            faults.TenantMoveHook = null;
        }
    }

    /// <summary>The move removed its triggers and its log from the main database (moved or rolled back).</summary>
    private async Task ShouldHaveNoChangeLogAsync(Guid tenant)
    {
        await using var main = new NpgsqlConnection(App.OwnerConnectionString);
        await main.OpenAsync();
        (await main.ExecuteScalarAsync<long>("SELECT count(*) FROM pg_trigger WHERE tgname LIKE @name", new { name = $"dms_move_{tenant:N}%" })).ShouldBe(0);
        (await main.ExecuteScalarAsync<long>("SELECT count(*) FROM tenant_move_changes WHERE tenant = @tenant", new { tenant })).ShouldBe(0);
    }

    private static async Task<Guid> CommentAsync(HttpClient client, Guid document, string text)
    {
        using var response = await client.PostAsJsonAsync($"/api/v1/documents/{document}/comments", new { text });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    /// <summary>Uploads, then edits the title (If-Match: the first version), retrying a 503 tenant.moving after its Retry-After.</summary>
    private sealed class Writer(HttpClient client)
    {
        public ConcurrentDictionary<Guid, string> Acknowledged { get; } = new();
        public ConcurrentQueue<string> Failures { get; } = new();
        private int _refused;
        public int Refused => Volatile.Read(ref _refused);

        public async Task RunAsync(CancellationToken stop)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var title = $"write {i} {Guid.NewGuid():N}";
                using var created = await SendAsync(() => client.PostAsync("/api/v1/documents", Uploads.Form($"w{i}.txt", Uploads.Text(title), title)));
                if (created is null)
                {
                    return;
                }
                var id = (await created.JsonAsync()).GetProperty("id").GetGuid();
                Acknowledged[id] = title;
                var edited = $"edited {title}";
                using var patched = await SendAsync(() =>
                {
                    var request = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/documents/{id}") { Content = JsonContent.Create(new { title = edited }) };
                    request.Headers.TryAddWithoutValidation("If-Match", "\"1\"");
                    return client.SendAsync(request);
                });
                if (patched is null)
                {
                    return;
                }
                Acknowledged[id] = edited;
            }
        }

        private async Task<HttpResponseMessage?> SendAsync(Func<Task<HttpResponseMessage>> send)
        {
            while (true)
            {
                var response = await send();
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    var problem = await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
                    if (problem.GetProperty("code").GetString() != "tenant.moving" || response.Headers.RetryAfter?.Delta is not { } wait)
                    {
                        Failures.Enqueue($"503 without tenant.moving and Retry-After: {problem}");
                        response.Dispose();
                        return null;
                    }
                    Interlocked.Increment(ref _refused);
                    response.Dispose();
                    // Retry-After says seconds; a shorter pause keeps the test quick (the header's presence is what counts).
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(wait.TotalMilliseconds, 200)));
                    continue;
                }
                if (!response.IsSuccessStatusCode)
                {
                    Failures.Enqueue($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    response.Dispose();
                    return null;
                }
                return response;
            }
        }
    }

    private async Task<(int Exit, string Stdout, string Stderr)> MoveAsync(string slug, string to) => await RunAsync(["--tenant", slug, "--to", to]);

    private async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await TenantMoveCommand.MoveAsync(args, App.Services, stdout, stderr, CancellationToken.None);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static async Task<(string App, string Owner)> TargetAsync(string name)
    {
        var cluster = await TestCluster.GetAsync();
        return await cluster.CreateDatabaseAsync($"dms_move_target_{name}_{Guid.NewGuid():N}"[..40]);
    }

    private static async Task<Guid> UploadAsync(HttpClient client, string text)
    {
        using var response = await client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text(text), $"Doc {Guid.NewGuid():N}"));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static HttpClient Client(WebApplicationFactory<Program> node, string token)
    {
        var client = node.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>The owner, as the tenant (row-level security is forced on the owner too).</summary>
    private static async Task<NpgsqlConnection> OpenAsTenantAsync(string ownerConnection, Guid tenant)
    {
        var conn = new NpgsqlConnection(ownerConnection);
        await conn.OpenAsync();
        await conn.ExecuteAsync("SELECT set_config('app.tenant_id', @t, false)", new { t = tenant.ToString() });
        return conn;
    }

    private static async Task<long> CountAsync(string ownerConnection, Guid tenant, Guid document)
    {
        await using var conn = await OpenAsTenantAsync(ownerConnection, tenant);
        return await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM documents WHERE tenant_id = @tenant AND id = @document", new { tenant, document });
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (!await condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new ShouldAssertException($"Timed out waiting for {what}.");
            }
            await Task.Delay(50);
        }
    }
}
