using System.Net;
using Dms.Platform;
using Dms.Platform.Configuration;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace Dms.Platform.Http;

/// <summary>
/// Transport-level care: forwarded headers believed only from configured proxies, and HTTP/1.1 connections closed
/// (announced with <c>Connection: close</c>) when a request is answered before a large body was read.
/// </summary>
internal static class ConnectionHygiene
{
    /// <summary>
    /// What Kestrel drains by itself after a response; beyond this (or over the body size limit) it would drop the
    /// connection unannounced and the client's next request on it would fail.
    /// </summary>
    internal const long DrainBound = 64 * 1024;

    public static IServiceCollection AddConnectionHygiene(this IServiceCollection services)
    {
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<DmsOptions>>((o, dms) =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            // One proxy hop: the address the configured load balancer saw is the client's.
            o.ForwardLimit = 1;
            foreach (var entry in dms.Value.Http.KnownProxyList)
            {
                if (entry.Contains('/', StringComparison.Ordinal))
                {
                    o.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(entry));
                }
                else
                {
                    o.KnownProxies.Add(IPAddress.Parse(entry));
                }
            }
        });
        return services;
    }

    public static WebApplication UseConnectionHygiene(this WebApplication app)
    {
        var http = app.Services.GetRequiredService<IOptions<DmsOptions>>().Value.Http;
        if (http.KnownProxyList.Count > 0)
        {
            // Validated at start-up: a typo in a proxy list fails loudly instead of trusting nobody (or everybody).
            _ = app.Services.GetRequiredService<IOptions<ForwardedHeadersOptions>>().Value;
            app.UseForwardedHeaders();
        }
        app.Use(async (context, next) =>
        {
            if (context.Request.Protocol is not ("HTTP/1.1" or "HTTP/1.0") ||
                context.Request.ContentLength is 0 || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
            {
                await next(context);
                return;
            }
            var body = new ReadTrackingStream(context.Request.Body, context.Request.ContentLength);
            context.Request.Body = body;
            context.Response.OnStarting(() =>
            {
                if (body.UnreadMayExceed(DrainBound))
                {
                    context.Response.Headers.Connection = "close";
                }
                return Task.CompletedTask;
            });
            await next(context);
        });
        return app;
    }

    /// <summary>Passes reads through, remembering how far the request body was read.</summary>
    private sealed class ReadTrackingStream(Stream inner, long? declared) : ReadOnlyStream
    {
        private long _read;
        private bool _ended;

        public bool UnreadMayExceed(long bound) => !_ended && (declared is not { } length || length - _read > bound);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken), buffer.Length);

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken), count);

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count), count);

        private int Count(int read, int asked)
        {
            _read += read;
            if ((read == 0 && asked > 0) || (declared is { } length && _read >= length))
            {
                _ended = true;
            }
            return read;
        }

        public override long Position { get => _read; set => throw new NotSupportedException(); }
    }
}
