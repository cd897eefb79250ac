using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;

namespace Dms.Tests.Seats;

/// <summary>What the seat tests share: a user's creation and state change over the API, and the real count of enabled users.</summary>
internal static class SeatSupport
{
    public const string Password = "seat-test-password-7";

    public static string NewEmail(string prefix = "u") => $"{prefix}-{Guid.NewGuid():N}"[..24] + "@example.test";

    public static Task<HttpResponseMessage> CreateAsync(TestTenant tenant, string? email = null, string role = "Member") =>
        CreateAsync(tenant.Admin.Client, email, role);

    public static Task<HttpResponseMessage> CreateAsync(HttpClient admin, string? email = null, string role = "Member") =>
        admin.PostAsJsonAsync("/api/v1/users", new { email = email ?? NewEmail(), password = Password, role });

    public static async Task<Guid> CreatedIdAsync(TestTenant tenant, string role = "Member")
    {
        using var response = await CreateAsync(tenant, role: role);
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    public static Task<HttpResponseMessage> PatchAsync(TestTenant tenant, Guid user, object body) =>
        PatchAsync(tenant.Admin.Client, user, body);

    public static Task<HttpResponseMessage> PatchAsync(HttpClient admin, Guid user, object body) =>
        admin.PatchAsJsonAsync($"/api/v1/users/{user}", body);

    public static async Task SetDisabledAsync(TestTenant tenant, Guid user, bool disabled)
    {
        using var response = await PatchAsync(tenant, user, new { disabled });
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    /// <summary>The truth: enabled users in the table, read as the owner (RLS still applies: the tenant is set).</summary>
    public static async Task<long> EnabledInDatabaseAsync(DmsApp app, Guid tenant, string condition = "NOT disabled")
    {
        await using var conn = new NpgsqlConnection(app.OwnerConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            $"SELECT set_config('app.tenant_id', @t::text, false); SELECT count(*) FROM users WHERE tenant_id = @t AND {condition}", conn);
        cmd.Parameters.AddWithValue("t", tenant);
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.NextResultAsync();
        await reader.ReadAsync();
        return reader.GetInt64(0);
    }

    /// <summary>Enabled users as the API lists them to an admin.</summary>
    public static async Task<int> EnabledByApiAsync(TestTenant tenant)
    {
        var users = await tenant.Admin.Client.GetFromJsonAsync<JsonElement>("/api/v1/users");
        return users.GetProperty("items").EnumerateArray().Count(u => !u.GetProperty("disabled").GetBoolean());
    }

    /// <summary>
    /// Seats used as <c>GET /api/v1/tenant/usage</c> reports them, or null while that endpoint does not exist on this branch
    /// (it is the billing helper's; once merged, the comparisons that use this become live).
    /// </summary>
    public static async Task<int?> UsedByUsageAsync(TestTenant tenant)
    {
        using var response = await tenant.Admin.Client.GetAsync("/api/v1/tenant/usage");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return (await response.JsonAsync()).GetProperty("seats").GetProperty("used").GetInt32();
    }

    public static async Task<(HttpStatusCode Status, string? Code)> OutcomeAsync(HttpResponseMessage response)
    {
        if (response.IsSuccessStatusCode)
        {
            return (response.StatusCode, null);
        }
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        return (response.StatusCode, json.RootElement.TryGetProperty("code", out var code) ? code.GetString() : body);
    }
}
