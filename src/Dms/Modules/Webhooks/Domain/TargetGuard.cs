using System.Net;
using System.Net.Sockets;

namespace Dms.Modules.Webhooks.Domain;

/// <summary>
/// Server-side request forgery guard: a webhook may only reach public addresses (unless
/// <see cref="WebhookOptions.AllowPrivateTargets"/>). Checked when an endpoint is saved (its URL, and the addresses its
/// name resolves to now) and again at every connection (the addresses it resolves to then: DNS can change).
/// </summary>
internal static class TargetGuard
{
    /// <summary>Why a URL cannot be a webhook target, or null when it can.</summary>
    public static string? UrlProblem(string? url, out Uri? parsed)
    {
        parsed = null;
        if (string.IsNullOrWhiteSpace(url) || url.Length > 2000)
        {
            return "url must be an absolute http or https URL of at most 2000 characters.";
        }
        if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            return "url must be an absolute http or https URL.";
        }
        if (uri.UserInfo.Length > 0)
        {
            return "url must not carry a user name or password.";
        }
        if (uri.Fragment.Length > 0)
        {
            return "url must not have a fragment (#…).";
        }
        parsed = uri;
        return null;
    }

    /// <summary>True for an address a webhook must not reach: loopback, private, link-local, unique-local, multicast, unspecified and other special ranges.</summary>
    public static bool IsBlocked(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] switch
            {
                0 => true,                                  // "this network", 0.0.0.0
                10 => true,                                 // private
                127 => true,                                // loopback
                100 => b[1] is >= 64 and <= 127,            // carrier-grade NAT
                169 => b[1] == 254,                         // link-local (cloud metadata at 169.254.169.254)
                172 => b[1] is >= 16 and <= 31,             // private
                192 => (b[1] == 168) || (b[1] == 0 && b[2] is 0 or 2) || (b[1] == 88 && b[2] == 99), // private, IETF, TEST-NET-1, 6to4 relay
                198 => b[1] is 18 or 19 || (b[1] == 51 && b[2] == 100), // benchmarking, TEST-NET-2
                203 => b[1] == 0 && b[2] == 113,            // TEST-NET-3
                >= 224 => true,                             // multicast, reserved, broadcast
                _ => false,
            };
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal
                || address.IsIPv6Multicast || address.IsIPv6UniqueLocal)
            {
                return true;
            }
            var b = address.GetAddressBytes();
            // NAT64 (64:ff9b::/96) carries an IPv4 address: judge that one.
            if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4..12].All(x => x == 0))
            {
                return IsBlocked(new IPAddress(b[12..]));
            }
            return (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) // documentation
                || b[..10].All(x => x == 0);                                     // IPv4-compatible and other ::/80 forms
        }
        return true;
    }

    /// <summary>Refuses a URL whose host is, or now resolves to, a blocked address. A name that does not resolve is let through (the connection is checked again).</summary>
    public static async Task<string?> HostProblemAsync(Uri uri, bool allowPrivate, CancellationToken ct)
    {
        if (allowPrivate)
        {
            return null;
        }
        IPAddress[] addresses;
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(3));
                addresses = await Dns.GetHostAddressesAsync(uri.IdnHost, timeout.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ArgumentException)
            {
                ct.ThrowIfCancellationRequested();
                return null;
            }
        }
        return addresses.Any(IsBlocked)
            ? "url points to a private, loopback, link-local or otherwise internal address; webhooks may only reach public addresses."
            : null;
    }
}
