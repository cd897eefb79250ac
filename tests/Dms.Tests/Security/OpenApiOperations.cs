using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;

namespace Dms.Tests.Security;

/// <summary>One operation of the served OpenAPI document: what the generated security tests walk.</summary>
internal sealed record ApiOperation(string Method, string Path, IReadOnlyList<string> PathParameters, IReadOnlyList<string> QueryParameters,
    IReadOnlyList<string> BodyTypes, IReadOnlyList<string> BodyProperties)
{
    public string Key => $"{Method} {Path}";

    public bool HasJsonBody => BodyTypes.Contains("application/json");

    public bool HasMultipartBody => BodyTypes.Contains("multipart/form-data");

    public override string ToString() => Key;

    /// <summary>Reads every operation from <c>/openapi/v1.json</c> as the app serves it.</summary>
    public static async Task<List<ApiOperation>> ReadAsync(DmsApp app)
    {
        using var doc = JsonDocument.Parse(await app.CreateClient().GetStringAsync("/openapi/v1.json"));
        var root = doc.RootElement;
        var operations = new List<ApiOperation>();
        foreach (var path in root.GetProperty("paths").EnumerateObject())
        {
            foreach (var op in path.Value.EnumerateObject().Where(o => o.Name != "parameters"))
            {
                var parameters = op.Value.TryGetProperty("parameters", out var p) ? p.EnumerateArray().ToList() : [];
                var types = new List<string>();
                var properties = new List<string>();
                if (op.Value.TryGetProperty("requestBody", out var body))
                {
                    foreach (var content in body.GetProperty("content").EnumerateObject())
                    {
                        types.Add(content.Name);
                        properties.AddRange(PropertiesOf(root, content.Value.GetProperty("schema")));
                    }
                }
                operations.Add(new ApiOperation(op.Name.ToUpperInvariant(), path.Name,
                    parameters.Where(x => x.GetProperty("in").GetString() == "path").Select(x => x.GetProperty("name").GetString()!).ToList(),
                    parameters.Where(x => x.GetProperty("in").GetString() == "query").Select(x => x.GetProperty("name").GetString()!).ToList(),
                    types, properties.Distinct().Where(n => n != "file").ToList()));
            }
        }
        return operations;
    }

    private static IEnumerable<string> PropertiesOf(JsonElement root, JsonElement schema)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!.Split('/')[^1];
            return PropertiesOf(root, root.GetProperty("components").GetProperty("schemas").GetProperty(name));
        }
        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            return oneOf.EnumerateArray().SelectMany(s => PropertiesOf(root, s));
        }
        return schema.TryGetProperty("properties", out var props) ? props.EnumerateObject().Select(p => p.Name).ToList() : [];
    }
}

/// <summary>A tenant's stored state as the schema owner sees it, to prove a rejected request changed nothing.</summary>
internal static class StoredState
{
    // Tables whose rows only change through requests (the outbox is worked on in the background: counted, not hashed).
    private static readonly string[] Hashed =
    [
        "users", "workspaces", "workspace_members", "folders", "documents", "document_versions", "upload_sessions",
        "approval_requests", "notifications", "refresh_tokens", "user_groups", "user_group_members", "webhook_endpoints", "webhook_deliveries",
        "document_checkouts", "document_comments", "document_types", "saved_views", "saved_view_pins",
    ];

    public static async Task<string> SnapshotAsync(DmsApp app, Guid tenant)
    {
        await using var c = new NpgsqlConnection(app.OwnerConnectionString);
        await c.OpenAsync();
        await EnterTenantAsync(c, tenant);
        // A streamed upload that fails leaves its journal row ('Failed', blob removed): that records the attempt,
        // like the audit trail, and is not data.
        var parts = Hashed.Select(t => $"SELECT '{t}' AS t, count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM {t} x WHERE tenant_id = @tenant"
                + (t == "upload_sessions" ? " AND NOT (status = 'Failed' AND kind = 'Stream')" : ""))
            .Append("SELECT 'api_tokens', count(*)::text FROM api_tokens WHERE tenant_id = @tenant")
            .Append("SELECT 'outbox', count(*)::text FROM outbox_messages WHERE tenant_id = @tenant");
        await using var cmd = new NpgsqlCommand(string.Join(" UNION ALL ", parts), c);
        cmd.Parameters.AddWithValue("tenant", tenant);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add($"{reader.GetString(0)}={reader.GetString(1)}");
        }
        return string.Join("; ", rows);
    }

    public static string Diff(string before, string after) =>
        string.Join("; ", after.Split("; ").Except(before.Split("; ")));

    /// <summary>A dead outbox message of the tenant's, as an operator would see one to replay.</summary>
    public static async Task<Guid> InsertDeadMessageAsync(DmsApp app, Guid tenant)
    {
        var id = Guid.NewGuid();
        await using var c = new NpgsqlConnection(app.OwnerConnectionString);
        await c.OpenAsync();
        await EnterTenantAsync(c, tenant);
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO outbox_messages (id, tenant_id, type, payload, status, attempts, last_error) VALUES (@id, @t, 'test.dead', '{}', 'Dead', 5, 'test')", c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("t", tenant);
        await cmd.ExecuteNonQueryAsync();
        return id;
    }

    /// <summary>A dead webhook delivery of <paramref name="webhook"/> (with its event), as an admin would see one to replay.</summary>
    public static async Task<Guid> InsertDeadDeliveryAsync(DmsApp app, Guid tenant, Guid webhook)
    {
        var id = Guid.NewGuid();
        await using var c = new NpgsqlConnection(app.OwnerConnectionString);
        await c.OpenAsync();
        await EnterTenantAsync(c, tenant);
        await using var cmd = new NpgsqlCommand("""
            WITH e AS (INSERT INTO webhook_events (tenant_id, id, type, data) VALUES (@t, gen_random_uuid(), 'user.disabled', '{}') RETURNING id)
            INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_id, status, attempts, finished_at, last_error)
            SELECT @t, @id, @hook, e.id, 'Dead', 8, now(), 'test' FROM e
            """, c);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("t", tenant);
        cmd.Parameters.AddWithValue("hook", webhook);
        await cmd.ExecuteNonQueryAsync();
        return id;
    }

    /// <summary>The id of each kind of thing an operation can address, keyed by the path segment before it.</summary>
    public static Dictionary<string, Guid> IdsByKind(Guid workspace, Guid folder, Guid document, Guid approval, Guid upload, Guid token,
        Guid notification, Guid outbox, Guid user, Guid group) => new()
        {
            ["workspaces"] = workspace,
            ["folders"] = folder,
            ["documents"] = document,
            ["approvals"] = approval,
            ["uploads"] = upload,
            ["tokens"] = token,
            ["notifications"] = notification,
            ["outbox"] = outbox,
            ["users"] = user,
            ["members"] = user,
            ["groups"] = group,
        };

    /// <summary>Row-level security is forced on the owner too: without the tenant setting it would see no rows at all.</summary>
    public static async Task EnterTenantAsync(NpgsqlConnection c, Guid tenant)
    {
        await using var cmd = new NpgsqlCommand("SELECT set_config('app.tenant_id', @tenant, false)", c);
        cmd.Parameters.AddWithValue("tenant", tenant.ToString());
        await cmd.ExecuteScalarAsync();
    }

    /// <summary>Waits until the tenant's outbox has no work left, so background effects settle before a snapshot.</summary>
    public static async Task SettleAsync(DmsApp app, Guid tenant)
    {
        await using var c = new NpgsqlConnection(app.OwnerConnectionString);
        await c.OpenAsync();
        await EnterTenantAsync(c, tenant);
        for (var i = 0; i < 200; i++)
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM outbox_messages WHERE tenant_id = @tenant AND status IN ('Pending', 'Processing') AND available_at <= now()", c);
            cmd.Parameters.AddWithValue("tenant", tenant);
            if ((long)(await cmd.ExecuteScalarAsync())! == 0)
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("The outbox did not settle within 10 s.");
    }
}
