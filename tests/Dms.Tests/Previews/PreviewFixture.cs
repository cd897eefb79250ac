using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Previews;

/// <summary>
/// An app of its own (so its background lane renders only these files, not the whole suite's uploads), a tenant with
/// one document of each kind uploaded once and rendered once, a member, a restricted workspace and a second tenant.
/// </summary>
public sealed class PreviewFixture : IAsyncLifetime
{
    internal DmsApp App { get; private set; } = null!;
    internal TestTenant Tenant { get; private set; } = null!;
    internal TestTenant Other { get; private set; } = null!;
    internal SignedIn Member { get; private set; } = null!;
    internal Guid Restricted { get; private set; }
    internal Guid Png { get; private set; }
    internal Guid Pdf { get; private set; }
    internal Guid Docx { get; private set; }
    internal Guid Csv { get; private set; }
    internal Guid Txt { get; private set; }
    internal Guid Corrupt { get; private set; }
    internal Guid Secret { get; private set; }

    /// <summary>How long the worker took from the uploads to the last rendition, for the report.</summary>
    internal TimeSpan RenderTime { get; private set; }

    public async Task InitializeAsync()
    {
        App = await DmsApp.CreateIsolatedAsync("previews", new Dictionary<string, string>());
        Tenant = await App.CreateTenantAsync();
        Other = await App.CreateTenantAsync();
        Member = await Tenant.CreateUserAsync("Member");
        using (var ws = await Tenant.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = "Board only" }))
        {
            await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
            Restricted = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        }
        var clock = Stopwatch.StartNew();
        Png = await UploadAsync("photo.png", Samples.Png(800, 600));
        Pdf = await UploadAsync("report.pdf", Samples.Pdf("Quarterly report"));
        Docx = await UploadAsync("letter.docx", Samples.Docx("Dear customer, thank you."));
        Csv = await UploadAsync("figures.csv", "region,amount\nnorth,12\nsouth,7\n"u8.ToArray());
        Txt = await UploadAsync("notes.txt", "Grüße — meeting notes\nline two\n"u8.ToArray());
        Corrupt = await UploadAsync("broken.png", Samples.CorruptPng());
        Secret = await UploadAsync("board.pdf", Samples.Pdf("Board minutes"), Restricted);
        foreach (var id in new[] { Png, Pdf, Docx, Csv, Txt, Corrupt, Secret })
        {
            await WaitRenderedAsync(id);
        }
        RenderTime = clock.Elapsed;
    }

    public async Task DisposeAsync() => await App.DisposeAsync();

    private async Task<Guid> UploadAsync(string fileName, byte[] content, Guid? workspaceId = null)
    {
        using var response = await Tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form(fileName, content, workspaceId: workspaceId));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    /// <summary>Waits until the thumbnail is no longer pending (the worker renders the preview first, in the same message).</summary>
    internal async Task WaitRenderedAsync(Guid documentId)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromMinutes(4))
        {
            using var response = await Tenant.Admin.Client.GetAsync($"/api/v1/documents/{documentId}/thumbnail");
            if (response.StatusCode != HttpStatusCode.Conflict)
            {
                return;
            }
            response.Headers.RetryAfter.ShouldNotBeNull();
            await Task.Delay(200);
        }
        // Say what the worker did, so a failure here is diagnosable from the test output alone.
        await using var db = new Npgsql.NpgsqlConnection(App.OwnerConnectionString);
        await db.OpenAsync();
        await using var query = new Npgsql.NpgsqlCommand(
            "SELECT string_agg(type || ' ' || status || ' ' || attempts || ' ' || coalesce(last_error, ''), E'\\n') FROM outbox_messages WHERE payload->>'documentId' = @id", db);
        query.Parameters.AddWithValue("id", documentId.ToString());
        throw new ShouldAssertException($"The renditions of {documentId} were never made. Its messages:\n{await query.ExecuteScalarAsync()}");
    }
}
