using System.Net.Http.Headers;
using System.Text;
using Xunit;

namespace Dms.Tests.Infrastructure;

/// <summary>Gives each test class a tenant of its own: tests run in parallel and double as isolation checks.</summary>
public sealed class TenantFixture : IAsyncLifetime
{
    internal TestTenant Tenant { get; private set; } = null!;

    public async Task InitializeAsync() => Tenant = await (await DmsApp.GetAsync()).CreateTenantAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}

internal static class Uploads
{
    public static byte[] Text(string content) => Encoding.UTF8.GetBytes(content);

    public static readonly byte[] PngHeader = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52];

    public static byte[] Pdf(int size = 2048)
    {
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        "%PDF-1.7\n"u8.CopyTo(bytes);
        return bytes;
    }

    public static MultipartFormDataContent Form(string fileName, byte[] content, string? title = null, string? tags = null,
        Guid? workspaceId = null, Guid? folderId = null, string? description = null)
    {
        var form = new MultipartFormDataContent();
        if (title is not null)
        {
            form.Add(new StringContent(title), "title");
        }
        if (tags is not null)
        {
            form.Add(new StringContent(tags), "tags");
        }
        if (description is not null)
        {
            form.Add(new StringContent(description), "description");
        }
        if (workspaceId is not null)
        {
            form.Add(new StringContent(workspaceId.Value.ToString()), "workspaceId");
        }
        if (folderId is not null)
        {
            form.Add(new StringContent(folderId.Value.ToString()), "folderId");
        }
        // Last, as the API asks: the place is checked before the file's bytes are read.
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        return form;
    }
}
