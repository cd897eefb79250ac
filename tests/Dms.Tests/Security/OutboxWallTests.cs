using Dms.Tests.Infrastructure;
using Dms.Tests.Process;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Security;

/// <summary>
/// The outbox holds every tenant's side effects. The runtime role reaches other tenants' messages only by
/// leasing due ones through <c>outbox_claim</c>: no setting it can make reveals or changes another tenant's row.
/// Operators still work across tenants with the <c>outbox</c> CLI verbs, which connect as the schema owner.
/// </summary>
public sealed class OutboxWallTests(TenantFixture fixture) : IClassFixture<TenantFixture>
{
    [Fact]
    public async Task No_setting_lets_the_runtime_role_see_or_change_another_tenants_outbox_row()
    {
        var owner = fixture.Tenant;
        var other = await owner.App.CreateTenantAsync();
        var messageId = await InsertMessageAsync(owner.App, owner.Id, "Done");

        await using var conn = new NpgsqlConnection(owner.App.AppConnectionString);
        await conn.OpenAsync();
        // Every setting a session could try: none, another tenant, the old dispatcher switch, and both.
        string[][] attempts =
        [
            [],
            [$"app.tenant_id={other.Id}"],
            ["app.outbox_dispatcher=on"],
            [$"app.tenant_id={other.Id}", "app.outbox_dispatcher=on"],
            ["app.tenant_id=", "app.outbox_dispatcher=true"],
        ];
        foreach (var settings in attempts)
        {
            await using var tx = await conn.BeginTransactionAsync();
            foreach (var (name, value) in settings.Select(s => (s[..s.IndexOf('=')], s[(s.IndexOf('=') + 1)..])))
            {
                await using var set = new NpgsqlCommand("SELECT set_config(@name, @value, true)", conn, tx);
                set.Parameters.AddWithValue("name", name);
                set.Parameters.AddWithValue("value", value);
                await set.ExecuteNonQueryAsync();
            }
            var label = settings.Length == 0 ? "no setting" : string.Join(", ", settings);
            await using (var select = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE id = @id", conn, tx))
            {
                select.Parameters.AddWithValue("id", messageId);
                ((long)(await select.ExecuteScalarAsync())!).ShouldBe(0, label);
            }
            await using (var update = new NpgsqlCommand("UPDATE outbox_messages SET status = 'Pending' WHERE id = @id", conn, tx))
            {
                update.Parameters.AddWithValue("id", messageId);
                (await update.ExecuteNonQueryAsync()).ShouldBe(0, label);
            }
            await tx.RollbackAsync();
        }

        // Its own tenant's row stays visible to it, so the rows are there and only the policy hides them.
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{owner.Id}', true)", conn, tx);
            await set.ExecuteNonQueryAsync();
            await using var select = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE id = @id", conn, tx);
            select.Parameters.AddWithValue("id", messageId);
            ((long)(await select.ExecuteScalarAsync())!).ShouldBe(1);
        }
    }

    [Fact]
    public async Task The_outbox_cli_verbs_list_and_replay_dead_messages_of_every_tenant()
    {
        var first = fixture.Tenant;
        var second = await first.App.CreateTenantAsync();
        var deadOfFirst = await InsertMessageAsync(first.App, first.Id, "Dead");
        var deadOfSecond = await InsertMessageAsync(first.App, second.Id, "Dead");
        var dataDirectory = Path.Combine(TestCluster.Root, $"cli-{Guid.NewGuid():N}");
        var env = new Dictionary<string, string>
        {
            ["ConnectionStrings__Dms"] = first.App.AppConnectionString,
            ["ConnectionStrings__DmsOwner"] = first.App.OwnerConnectionString,
            ["Dms__Bootstrap__AdminPassword"] = "bootstrap-password-1",
        };

        var (exit, output) = await DmsProcess.RunCliAsync(dataDirectory, env, "outbox", "dead");
        exit.ShouldBe(0, output);
        output.ShouldContain($"{deadOfFirst}  tenant={first.Id}");
        output.ShouldContain($"{deadOfSecond}  tenant={second.Id}");

        var (replayed, replayOutput) = await DmsProcess.RunCliAsync(dataDirectory, env, "outbox", "replay", deadOfSecond.ToString());
        replayed.ShouldBe(0, replayOutput);
        replayOutput.ShouldContain($"replayed {deadOfSecond}");
        await using var conn = new NpgsqlConnection(first.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{second.Id}', false); SELECT attempts FROM outbox_messages WHERE id = '{deadOfSecond}'", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.NextResultAsync();
        (await reader.ReadAsync()).ShouldBeTrue();
        reader.GetInt32(0).ShouldBeLessThan(5, "a replay starts a fresh set of attempts");
    }

    [Fact]
    public async Task The_server_refuses_to_run_as_the_owner_of_the_tables()
    {
        // The owner could switch row-level security off, and its own outbox policy sees every tenant.
        var app = fixture.Tenant.App;
        var (exit, output) = await DmsProcess.RunCliAsync(Path.Combine(TestCluster.Root, $"owner-{Guid.NewGuid():N}"), new Dictionary<string, string>
        {
            ["ConnectionStrings__Dms"] = app.OwnerConnectionString,
            ["ConnectionStrings__DmsOwner"] = app.OwnerConnectionString,
        }, "--urls", "http://127.0.0.1:1");
        exit.ShouldBe(1, output);
        output.ShouldContain("owns the schema's tables");
    }

    /// <summary>A message the dispatcher leaves alone (Done) or only an operator touches (Dead), inserted as the owner.</summary>
    private static async Task<Guid> InsertMessageAsync(DmsApp app, Guid tenant, string status)
    {
        var id = Guid.NewGuid();
        await using var c = new NpgsqlConnection(app.OwnerConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"""
            SELECT set_config('app.tenant_id', '{tenant}', false);
            INSERT INTO outbox_messages (id, tenant_id, type, payload, status, attempts, last_error) VALUES (@id, @t, 'test.wall', jsonb_build_object(), @status, 5, 'test')
            """, c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("t", tenant);
        cmd.Parameters.AddWithValue("status", status);
        await cmd.ExecuteNonQueryAsync();
        return id;
    }
}
