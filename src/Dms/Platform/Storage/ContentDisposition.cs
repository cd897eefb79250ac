using Microsoft.Net.Http.Headers;

namespace Dms.Platform.Storage;

internal static class ContentDisposition
{
    /// <summary><c>attachment; filename="ascii"; filename*=UTF-8''…</c> (RFC 6266): files are never rendered inline.</summary>
    public static string Attachment(string fileName)
    {
        var header = new ContentDispositionHeaderValue("attachment");
        header.SetHttpFileName(fileName);
        return header.ToString();
    }
}
