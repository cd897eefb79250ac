using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Npgsql;
using Shouldly;

namespace Dms.Tests.Bulk;

/// <summary>Seeds documents in SQL as the owner (as LargeTenantFixture does: 5,000 HTTP uploads would test the upload path, not bulk jobs) and drives jobs over HTTP.</summary>
internal static class BulkSupport
{
    public const int Timeout = 600;

    /// <summary>
    /// Inserts <paramref name="count"/> live documents (one version each) in <paramref name="workspaceId"/>, created by the
    /// tenant's first admin, with <paramref name="tags"/>(i) as tags; with <paramref name="content"/>, each version's blob is
    /// stored too. Returns the ids in insertion order and each blob's SHA-256.
    /// </summary>
    public static async Task<(List<Guid> Ids, Dictionary<Guid, string> Sha256)> SeedAsync(TestTenant tenant, Guid workspaceId, int count, string titlePrefix,
        Func<int, string[]> tags, Func<int, byte[]>? content = null, Func<int, string>? fileName = null)
    {
        var ids = Enumerable.Range(0, count).Select(_ => Guid.NewGuid()).ToList();
        var hashes = new Dictionary<Guid, string>();
        var sizes = new long[count];
        var shas = new string[count];
        if (content is not null)
        {
            var blobs = tenant.App.Service<IBlobStore>();
            for (var i = 0; i < count; i++)
            {
                var bytes = content(i);
                sizes[i] = bytes.Length;
                shas[i] = Convert.ToHexStringLower(SHA256.HashData(bytes));
                hashes[ids[i]] = shas[i];
                using var stream = new MemoryStream(bytes);
                await blobs.PutAsync($"{tenant.Id}/{ids[i]}/1", stream, CancellationToken.None);
            }
        }
        else
        {
            Array.Fill(sizes, 10);
            Array.Fill(shas, new string('a', 64));
        }
        await using var owner = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await owner.OpenAsync();
        await using var tx = await owner.BeginTransactionAsync();
        await Db.EnterTenantAsync(owner, tx, tenant.Id, CancellationToken.None);
        var admin = await owner.ExecuteScalarAsync<Guid>("SELECT id FROM users WHERE tenant_id = @tenant AND role = 'Admin' ORDER BY created_at LIMIT 1", new { tenant = tenant.Id }, tx);
        var rows = Enumerable.Range(0, count).Select(i => new
        {
            id = ids[i],
            title = $"{titlePrefix} {i:D5}",
            tags = string.Join(',', tags(i)),
            name = fileName?.Invoke(i) ?? $"{titlePrefix}-{i:D5}.txt",
            size = sizes[i],
            sha = shas[i],
            // Older first, so the default list order (newest first) is the reverse of insertion.
            at = DateTime.UtcNow.AddSeconds(-count + i),
        }).ToList();
        await owner.ExecuteAsync(new CommandDefinition("""
            WITH input AS (
              SELECT * FROM unnest(@ids, @titles, @tags, @names, @sizes, @shas, @ats) AS x(id, title, tags, name, size, sha, at)
            ), docs AS (
              INSERT INTO documents (id, tenant_id, workspace_id, title, tags, current_version, content_family, created_at, created_by, updated_at, updated_by)
              SELECT id, @tenant, @workspace, title, CASE WHEN tags = '' THEN '{}'::text[] ELSE string_to_array(tags, ',') END, 1,
                     document_content_family('text/plain'), at, @admin, at, @admin
              FROM input RETURNING id)
            INSERT INTO document_versions (id, tenant_id, document_id, number, blob_key, size, sha256, content_type, file_name, created_at, created_by)
            SELECT gen_random_uuid(), @tenant, input.id, 1, @tenant || '/' || input.id || '/1', input.size, input.sha, 'text/plain', input.name, input.at, @admin
            FROM input JOIN docs ON docs.id = input.id
            """, new
        {
            ids = rows.Select(r => r.id).ToArray(),
            titles = rows.Select(r => r.title).ToArray(),
            tags = rows.Select(r => r.tags).ToArray(),
            names = rows.Select(r => r.name).ToArray(),
            sizes = rows.Select(r => r.size).ToArray(),
            shas = rows.Select(r => r.sha).ToArray(),
            ats = rows.Select(r => r.at).ToArray(),
            tenant = tenant.Id,
            workspace = workspaceId,
            admin,
        }, tx, Timeout));
        await tx.CommitAsync();
        return (ids, hashes);
    }

    /// <summary>Runs <paramref name="sql"/> as the owner inside the tenant's setting and returns the rows.</summary>
    public static async Task<List<T>> OwnerQueryAsync<T>(TestTenant tenant, string sql, object? parameters = null)
    {
        await using var owner = new NpgsqlConnection(tenant.App.OwnerConnectionString);
        await owner.OpenAsync();
        await using var tx = await owner.BeginTransactionAsync();
        await Db.EnterTenantAsync(owner, tx, tenant.Id, CancellationToken.None);
        var rows = (await owner.QueryAsync<T>(new CommandDefinition(sql, parameters, tx, Timeout))).ToList();
        await tx.CommitAsync();
        return rows;
    }

    public static async Task<Guid> AdminIdAsync(TestTenant tenant) =>
        (await OwnerQueryAsync<Guid>(tenant, "SELECT id FROM users WHERE tenant_id = @tenant AND email = 'admin@example.test'", new { tenant = tenant.Id })).Single();

    public static async Task<Guid> StartAsync(SignedIn who, object body)
    {
        using var response = await who.Client.PostAsJsonAsync("/api/v1/bulk-jobs", body);
        await response.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
        var id = (await response.JsonAsync()).GetProperty("id").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/bulk-jobs/{id}");
        return id;
    }

    public static async Task<JsonElement> GetAsync(SignedIn who, Guid jobId, string query = "")
    {
        using var response = await who.Client.GetAsync($"/api/v1/bulk-jobs/{jobId}{query}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    /// <summary>Polls until the job has finished (generous deadline for a loaded machine); returns the last answer.</summary>
    public static async Task<JsonElement> WaitAsync(SignedIn who, Guid jobId, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? TimeSpan.FromMinutes(8));
        while (true)
        {
            var job = await GetAsync(who, jobId);
            if (job.GetProperty("status").GetString() is "done" or "failed" or "canceled")
            {
                return job;
            }
            DateTime.UtcNow.ShouldBeLessThan(until, $"the bulk job did not finish: {job}");
            await Task.Delay(200);
        }
    }

    /// <summary>Every result of a job, following <c>nextResults</c>.</summary>
    public static async Task<List<JsonElement>> ResultsAsync(SignedIn who, Guid jobId)
    {
        var all = new List<JsonElement>();
        string? next = $"/api/v1/bulk-jobs/{jobId}";
        while (next is not null)
        {
            using var response = await who.Client.GetAsync(next);
            await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var page = await response.JsonAsync();
            all.AddRange(page.GetProperty("results").EnumerateArray());
            next = page.TryGetProperty("nextResults", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        }
        return all;
    }
}
