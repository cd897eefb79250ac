using System.Net;
using System.Net.Sockets;
using Dms.Modules.Webhooks.Domain;
using Microsoft.Extensions.Options;

namespace Dms.Modules.Webhooks.Delivery;

/// <summary>The connection to a blocked address was refused by the SSRF guard (the name resolved to one at send time).</summary>
internal sealed class BlockedTargetException(string host) : Exception($"{host} resolves only to addresses webhooks may not reach.");

/// <summary>
/// The HTTP client of deliveries: no redirects followed (a 3xx is a failed attempt), no proxy from the environment (it
/// would connect for us, past the guard), no cookies, and a connect hook that resolves the name itself and connects only
/// to addresses <see cref="TargetGuard"/> allows, so a name that points inside after it was registered is still refused.
/// </summary>
internal sealed class WebhookSender : IDisposable
{
    public WebhookSender(IOptions<WebhookOptions> options)
    {
        var allowPrivate = options.Value.AllowPrivateTargets;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.Value.Timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxResponseHeadersLength = 64,
            ConnectCallback = async (context, ct) =>
            {
                var host = context.DnsEndPoint.Host.Trim('[', ']');
                var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
                if (!allowPrivate)
                {
                    addresses = addresses.Where(a => !TargetGuard.IsBlocked(a)).ToArray();
                }
                if (addresses.Length == 0)
                {
                    throw new BlockedTargetException(host);
                }
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        Client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        Client.DefaultRequestHeaders.UserAgent.ParseAdd("DMS-Webhooks/1.0");
    }

    public HttpClient Client { get; }

    public void Dispose() => Client.Dispose();
}
