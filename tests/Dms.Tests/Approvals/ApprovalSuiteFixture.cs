using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>
/// What the approval suite runs against, and the suite's client steps. A tenant of the suite's own with two admins and a
/// member, made through the platform API. The suite's tests (<see cref="ApprovalSuite{TFixture}"/>,
/// <see cref="ApprovalConcurrencySuite{TFixture}"/>) see only HTTP, the schema owner's connection (to move the clock or
/// count rows) and a blob count, so the same bodies run in-process (<see cref="ApprovalFixture"/>) and through the local
/// cluster's load balancer (<see cref="ClusterApprovalFixture"/>).
/// </summary>
public abstract class ApprovalSuiteFixture : IAsyncLifetime
{
    internal Guid TenantId { get; private set; }
    internal string Slug { get; private set; } = "";
    internal SignedIn Admin { get; private set; } = null!;
    internal SignedIn SecondAdmin { get; private set; } = null!;
    internal SignedIn Member { get; private set; } = null!;

    /// <summary>The schema owner (RLS still applies: FORCE ROW LEVEL SECURITY), for SQL a test runs in its tenant.</summary>
    internal abstract string OwnerConnectionString { get; }

    /// <summary>Makes the tenant through the platform API and signs its admin in.</summary>
    private protected abstract Task<(Guid Id, string Slug, SignedIn Admin)> CreateTenantAsync();

    internal abstract Task<SignedIn> SignInAsync(string email, string password);

    /// <summary>Sends to a URL the API handed out (a signed upload URL of the app's own or of S3).</summary>
    internal abstract Task<HttpResponseMessage> SendToUrlAsync(HttpMethod method, Uri url, HttpContent? content = null);

    /// <summary>How many blobs the target's storage holds under <paramref name="prefix"/>.</summary>
    internal abstract Task<int> CountBlobsAsync(string prefix);

    public virtual async Task InitializeAsync()
    {
        (TenantId, Slug, Admin) = await CreateTenantAsync();
        SecondAdmin = await CreateUserAsync("Admin");
        Member = await CreateUserAsync("Member");
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    /// <summary>Creates a user with <paramref name="role"/> through the API and signs them in.</summary>
    internal async Task<SignedIn> CreateUserAsync(string role)
    {
        var email = $"{role.ToLowerInvariant()}-{Guid.NewGuid():N}"[..24] + "@example.test";
        var password = $"pw-{Guid.NewGuid():N}";
        using var response = await Admin.Client.PostAsJsonAsync("/api/v1/users", new { email, password, role });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var user = await response.Content.ReadFromJsonAsync<JsonElement>();
        var signedIn = await SignInAsync(email, password);
        signedIn.UserId = user.GetProperty("id").GetGuid();
        return signedIn;
    }

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
    internal async Task<JsonElement> WaitForStatusAsync(Guid approvalId, string status, TimeSpan? timeout = null)
    {
        // A deadline, not a count of polls: through a load balancer on a loaded machine one poll can take a while.
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        JsonElement request;
        do
        {
            request = await (await Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
            if (request.GetProperty("status").GetString() == status)
            {
                return request;
            }
            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);
        throw new ShouldAssertException($"Request {approvalId} never reached {status}: {request}");
    }

    internal async Task<List<JsonElement>> NotificationsAsync(SignedIn who, string kind, Guid approvalId, int atLeast = 1)
    {
        List<JsonElement> matching = [];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        do
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
        while (DateTime.UtcNow < deadline);
        return matching;
    }

    /// <summary>Runs SQL as the schema owner in this tenant: how tests move the clock or bypass the API.</summary>
    internal async Task<T?> OwnerScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(OwnerConnectionString);
        await conn.OpenAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{TenantId}', false)", conn))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        // A cast, not `is T`: asking for long where the column is an integer fails instead of reading as 0.
        return await cmd.ExecuteScalarAsync() is { } scalar and not DBNull ? (T)scalar : default;
    }

    internal async Task OwnerSqlAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(OwnerConnectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{TenantId}', true)", conn, tx))
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
