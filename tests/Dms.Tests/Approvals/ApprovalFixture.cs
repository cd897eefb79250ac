using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>A tenant with two admins and a member, and the client steps of the approval flow.</summary>
public sealed class ApprovalFixture : IAsyncLifetime
{
    internal TestTenant Tenant { get; private set; } = null!;
    internal SignedIn Admin => Tenant.Admin;
    internal SignedIn SecondAdmin { get; private set; } = null!;
    internal SignedIn Member { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Tenant = await (await DmsApp.GetAsync()).CreateTenantAsync();
        SecondAdmin = await Tenant.CreateUserAsync("Admin");
        Member = await Tenant.CreateUserAsync("Member");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    internal async Task<Guid> UploadAsync(SignedIn who, string text = "version one", string fileName = "doc.txt")
    {
        using var response = await who.Client.PostAsync("/api/v1/documents", Uploads.Form(fileName, Uploads.Text(text), $"Doc {Guid.NewGuid():N}"));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    internal async Task<JsonElement> RequestDeleteAsync(SignedIn who, Guid documentId, string reason = "No longer needed")
    {
        using var response = await who.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    internal async Task<JsonElement> RequestReplaceAsync(SignedIn who, Guid documentId, string newText, string reason = "Corrected figures")
    {
        var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(Uploads.Text(newText)), "file", "doc.txt" },
            { new StringContent(reason), "reason" },
        };
        using var response = await who.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests", form);
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    internal static Task<HttpResponseMessage> ApproveAsync(SignedIn who, Guid approvalId, string? comment = null) =>
        who.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment });

    /// <summary>Waits for the outbox worker to move a request to <paramref name="status"/>.</summary>
    internal async Task<JsonElement> WaitForStatusAsync(Guid approvalId, string status)
    {
        JsonElement request = default;
        for (var i = 0; i < 300; i++)
        {
            request = await (await Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
            if (request.GetProperty("status").GetString() == status)
            {
                return request;
            }
            await Task.Delay(50);
        }
        throw new ShouldAssertException($"Request {approvalId} never reached {status}: {request}");
    }

    internal async Task<List<JsonElement>> NotificationsAsync(SignedIn who, string kind, Guid approvalId, int atLeast = 1)
    {
        List<JsonElement> matching = [];
        for (var i = 0; i < 300; i++)
        {
            var page = await (await who.Client.GetAsync("/api/v1/notifications?limit=200")).JsonAsync();
            matching = page.GetProperty("items").EnumerateArray()
                .Where(n => n.GetProperty("kind").GetString() == kind && n.GetProperty("approvalId").GetGuid() == approvalId).ToList();
            if (matching.Count >= atLeast)
            {
                return matching;
            }
            await Task.Delay(50);
        }
        return matching;
    }

    /// <summary>Runs SQL as the schema owner in this tenant: how tests move the clock or bypass the API.</summary>
    internal async Task<T?> OwnerScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(Tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', false)", conn))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return await cmd.ExecuteScalarAsync() is T result ? result : default;
    }

    internal async Task OwnerSqlAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(Tenant.App.OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{Tenant.Id}', true)", conn, tx))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        await cmd.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }
}
