using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Process;

/// <summary>
/// Against the real Kestrel server (the in-memory test server has no connections): a request answered before its
/// body was read must not poison the client's keep-alive connection, and an upload the caller may not make is refused
/// before its file is read.
/// </summary>
public sealed class HttpConnectionTests : IAsyncLifetime
{
    private const string AdminPassword = "http-admin-password";
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), $"dms-http-{Guid.NewGuid():N}");
    private DmsProcess _server = null!;

    public async Task InitializeAsync()
    {
        _server = DmsProcess.Start(_dataDirectory, new Dictionary<string, string>
        {
            ["Dms__Bootstrap__AdminPassword"] = AdminPassword,
            ["Dms__Security__LoginRateLimit__PermitLimit"] = "1000",
        });
        await _server.WaitUntilReadyAsync();
    }

    public Task DisposeAsync()
    {
        _server.Dispose();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_refused_large_body_closes_the_connection_cleanly_instead_of_dropping_the_next_request()
    {
        using var socket = await ConnectAsync();
        var body = new byte[1_100_000];
        var head = Encoding.ASCII.GetBytes(
            $"PUT /api/v1/storage/objects?token=not-a-token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {body.Length}\r\n\r\n");
        // Sent whole, as a client does that does not wait for an early answer.
        var sending = Task.Run(async () =>
        {
            try
            {
                await socket.SendAsync(head);
                await socket.SendAsync(body);
            }
            catch (SocketException)
            {
                // The server may stop reading once it has answered and closed.
            }
        });
        var first = await ReadResponseAsync(socket);
        first.Status.ShouldBe(403);
        await sending;

        if (first.Headers.TryGetValue("connection", out var connection) && connection.Equals("close", StringComparison.OrdinalIgnoreCase))
        {
            return; // Announced: the client opens a new connection for its next request.
        }
        // Not announced: the connection must still serve the next request.
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        var second = await ReadResponseAsync(socket);
        second.Status.ShouldBe(200, "the keep-alive connection was left usable");
    }

    [Fact]
    public async Task A_small_refused_body_keeps_the_connection_alive()
    {
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        using var refused = await http.PutAsync("/api/v1/storage/objects?token=x", new ByteArrayContent(new byte[100]));
        refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        refused.Headers.ConnectionClose.ShouldNotBe(true);
    }

    [Fact]
    public async Task A_viewer_upload_is_refused_before_the_server_reads_the_file()
    {
        using var admin = await SignInAsync("admin@demo.local", AdminPassword);
        using var ws = await admin.PostAsJsonAsync("/api/v1/workspaces", new { name = "read only" });
        await ws.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var workspaceId = (await ws.JsonAsync()).GetProperty("id").GetGuid();
        using var user = await admin.PostAsJsonAsync("/api/v1/users", new { email = "viewer@demo.local", password = "viewer-password-1", role = "Member" });
        await user.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var userId = (await user.JsonAsync()).GetProperty("id").GetGuid();
        using var add = await admin.PostAsJsonAsync($"/api/v1/workspaces/{workspaceId}/members", new { userId, role = "Viewer" });
        await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
        using var viewer = await SignInAsync("viewer@demo.local", "viewer-password-1");
        var token = viewer.DefaultRequestHeaders.Authorization!.Parameter;

        // Declares a 5 MB file but sends only its first 16 KB, then waits: a server that reads the file before
        // checking waits too, and never answers.
        const string boundary = "dms-test-boundary";
        var preamble = Encoding.ASCII.GetBytes(
            $"--{boundary}\r\nContent-Disposition: form-data; name=\"workspaceId\"\r\n\r\n{workspaceId}\r\n" +
            $"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"secret.pdf\"\r\nContent-Type: application/pdf\r\n\r\n");
        var file = Uploads.Pdf(5 * 1024 * 1024);
        var epilogue = Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n");
        using var socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n" +
            $"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {preamble.Length + file.Length + epilogue.Length}\r\n\r\n"));
        await socket.SendAsync(preamble);
        await socket.SendAsync(file.AsMemory(0, 16 * 1024));

        var response = await ReadResponseAsync(socket, TimeSpan.FromSeconds(10));
        response.Status.ShouldBe(403);
        response.Headers["content-type"].ShouldStartWith("application/problem+json");
    }

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _server.Port);
        return socket;
    }

    private sealed record RawResponse(int Status, Dictionary<string, string> Headers, string Body);

    /// <summary>Reads one HTTP/1.1 response's head, and its body when it has a Content-Length.</summary>
    private static async Task<RawResponse> ReadResponseAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var buffer = new List<byte>();
        var chunk = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOf(buffer, "\r\n\r\n"u8.ToArray())) < 0)
        {
            var read = await socket.ReceiveAsync(chunk, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                throw new ShouldAssertException($"The server closed the connection without a response (after {buffer.Count} bytes).");
            }
            buffer.AddRange(chunk.AsSpan(0, read).ToArray());
        }
        var lines = Encoding.ASCII.GetString(buffer.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        var length = headers.TryGetValue("content-length", out var value) ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        while (buffer.Count < headerEnd + 4 + length)
        {
            var read = await socket.ReceiveAsync(chunk, SocketFlags.None, cts.Token);
            if (read == 0)
            {
                break;
            }
            buffer.AddRange(chunk.AsSpan(0, read).ToArray());
        }
        var body = Encoding.UTF8.GetString(buffer.GetRange(headerEnd + 4, Math.Min(length, buffer.Count - headerEnd - 4)).ToArray());
        return new RawResponse(status, headers, body);
    }

    private static int IndexOf(List<byte> haystack, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Count; i++)
        {
            var match = true;
            for (var j = 0; j < needle.Length && match; j++)
            {
                match = haystack[i + j] == needle[j];
            }
            if (match)
            {
                return i;
            }
        }
        return -1;
    }

    private async Task<HttpClient> SignInAsync(string email, string password)
    {
        var http = new HttpClient { BaseAddress = _server.BaseAddress };
        using var login = await http.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email, password });
        await login.ShouldHaveStatusAsync(HttpStatusCode.OK);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString());
        return http;
    }
}
