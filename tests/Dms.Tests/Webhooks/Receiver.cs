using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Dms.Tests.Webhooks;

/// <summary>One request a receiver got: the Standard Webhooks headers, the raw body, and what it answered.</summary>
internal sealed record Received(string Id, string Timestamp, string Signature, string Body, int Answered, DateTimeOffset At);

/// <summary>
/// A webhook receiver of the tests: a real Kestrel server on 127.0.0.1 that records every request and answers 200, or
/// 500 when <see cref="Fail"/> says so. It can listen on a port chosen beforehand, so "the receiver comes back" is the
/// same URL.
/// </summary>
internal sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>Decides per request whether to answer 500.</summary>
    public Func<bool> Fail { get; set; } = () => false;

    /// <summary>When set, every request is answered with a redirect here (which must not be followed).</summary>
    public string? RedirectTo { get; set; }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}/hook");

    private Receiver(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    /// <summary>A port nothing listens on (yet): a receiver that is down.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<Receiver> StartAsync(int? port = null)
    {
        var chosen = port ?? FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{chosen}");
        var app = builder.Build();
        var receiver = new Receiver(app, chosen);
        app.MapPost("/hook", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync();
            var status = receiver.RedirectTo is not null ? 307 : receiver.Fail() ? 500 : 200;
            if (receiver.RedirectTo is { } location)
            {
                http.Response.Headers.Location = location;
            }
            receiver.Requests.Enqueue(new Received(http.Request.Headers["webhook-id"].ToString(), http.Request.Headers["webhook-timestamp"].ToString(),
                http.Request.Headers["webhook-signature"].ToString(), body, status, DateTimeOffset.UtcNow));
            http.Response.StatusCode = status;
        });
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// Signature verification as a receiver would write it, from the Standard Webhooks text and not from the server's
/// code: HMAC-SHA256 keyed with the base64-decoded part of <c>whsec_…</c>, over <c>{id}.{timestamp}.{body}</c>, compared
/// in constant time with each space-separated <c>v1,…</c> entry; the timestamp must be within 5 minutes.
/// </summary>
internal static class ReceiverVerification
{
    public static bool Verifies(string secret, Received r, DateTimeOffset now)
    {
        if (!long.TryParse(r.Timestamp, out var ts) || Math.Abs(now.ToUnixTimeSeconds() - ts) > 300)
        {
            return false;
        }
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{r.Id}.{r.Timestamp}.{r.Body}"));
        foreach (var entry in r.Signature.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = entry.Split(',', 2);
            if (parts.Length == 2 && parts[0] == "v1" && CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(parts[1]), expected))
            {
                return true;
            }
        }
        return false;
    }
}
