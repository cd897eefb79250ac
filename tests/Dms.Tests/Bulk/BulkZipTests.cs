using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Bulk;

/// <summary>
/// A bulk ZIP of 1,000 documents (32 MiB) is streamed while it is built: read slowly, the process's managed memory stays
/// far below the ZIP's size; the file is complete and right (every entry, every hash, " (2)" for a repeated name); each
/// document is audited as a download. It runs alone: the measure is the whole test process's managed memory, which other
/// tests running beside it would inflate (a full run once saw 27 MiB of their allocations).
/// </summary>
[Collection(nameof(MemoryMeasuredAlone))]
public sealed class BulkZipTests(TenantFixture f, ITestOutputHelper output) : IClassFixture<TenantFixture>
{
    private const int Count = 1_000;
    private const int Size = 32 * 1024;

    [Fact]
    public async Task A_zip_of_1000_documents_streams_with_flat_memory_and_holds_every_current_version()
    {
        var t = f.Tenant;
        var (ids, hashes) = await BulkSupport.SeedAsync(t, t.DefaultWorkspaceId, Count, "Zip", _ => [],
            content: i => RandomNumberGenerator.GetBytes(Size), fileName: i => i is 0 or 1 ? "same.txt" : $"zip-{i:D4}.txt");
        var jobId = await BulkSupport.StartAsync(t.Admin, new { action = "zip", documentIds = ids });
        var job = await BulkSupport.WaitAsync(t.Admin, jobId);
        job.GetProperty("done").GetInt32().ShouldBe(Count);
        job.GetProperty("contentUrl").GetString().ShouldBe($"/api/v1/bulk-jobs/{jobId}/content");

        var file = Path.Combine(Path.GetTempPath(), $"bulk-{jobId:N}.zip");
        try
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var before = GC.GetTotalMemory(forceFullCollection: true);
            long peak = 0, read = 0;
            using (var response = await t.Admin.Client.GetAsync($"/api/v1/bulk-jobs/{jobId}/content", HttpCompletionOption.ResponseHeadersRead))
            {
                await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
                response.Content.Headers.ContentType!.MediaType.ShouldBe("application/zip");
                response.Content.Headers.ContentLength.ShouldBeNull("the length is unknown while the ZIP is being built: chunked");
                response.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
                await using var body = await response.Content.ReadAsStreamAsync();
                await using var target = File.Create(file);
                var buffer = new byte[64 * 1024];
                int n;
                while ((n = await body.ReadAsync(buffer)) > 0)
                {
                    await target.WriteAsync(buffer.AsMemory(0, n));
                    read += n;
                    // Slowly: the server must wait for the reader, not build ahead of it.
                    if (read / (2 * 1024 * 1024) != (read - n) / (2 * 1024 * 1024))
                    {
                        await Task.Delay(50);
                        peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - before);
                    }
                }
            }
            output.WriteLine($"ZIP {read / 1024 / 1024.0:F1} MiB; managed memory above the start while reading: peak {peak / 1024 / 1024.0:F1} MiB");
            read.ShouldBeGreaterThan((long)Count * Size);
            peak.ShouldBeLessThan(read / 4, "the ZIP must not be held in memory whole");

            using var zip = ZipFile.OpenRead(file);
            zip.Entries.Count.ShouldBe(Count);
            zip.Entries.Select(e => e.FullName).ShouldContain("same.txt");
            zip.Entries.Select(e => e.FullName).ShouldContain("same (2).txt");
            var byName = zip.Entries.ToDictionary(e => e.FullName);
            for (var i = 0; i < Count; i++)
            {
                var name = i switch { 0 => "same.txt", 1 => "same (2).txt", _ => $"zip-{i:D4}.txt" };
                await using var entry = byName[name].Open();
                Convert.ToHexStringLower(await SHA256.HashDataAsync(entry)).ShouldBe(hashes[ids[i]], name);
            }
        }
        finally
        {
            File.Delete(file);
        }

        var downloads = await BulkSupport.OwnerQueryAsync<(string EntityId, long N)>(t,
            "SELECT entity_id, count(*) FROM audit_events WHERE action = 'document.downloaded' AND actor_id = @admin AND entity_id = ANY(@ids) GROUP BY entity_id",
            new { admin = await BulkSupport.AdminIdAsync(t), ids = ids.Select(i => i.ToString()).ToArray() });
        downloads.Count.ShouldBe(Count);
        downloads.ShouldAllBe(d => d.N == 1);
    }
}

/// <summary>Tests that measure the process's memory run with no other test beside them.</summary>
[CollectionDefinition(nameof(MemoryMeasuredAlone), DisableParallelization = true)]
public sealed class MemoryMeasuredAlone;
