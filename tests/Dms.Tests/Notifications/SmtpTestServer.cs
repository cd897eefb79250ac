using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MimeKit;
using Shouldly;
using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace Dms.Tests.Notifications;

/// <summary>
/// A real SMTP server (the SmtpServer package) in the test process, on a free loopback port, that can be stopped and
/// started again on the same port. It requires authentication with <see cref="Username"/> and <see cref="Password"/>,
/// refuses for good (550) every recipient whose address starts with <c>bounce</c>, and keeps what it accepted.
/// </summary>
internal sealed class SmtpTestServer : IAsyncDisposable
{
    public const string Username = "dms-mailer";

    // Shaped like the suite's generated passwords, so test.sh's log scan would catch it too.
    public string Password { get; } = $"pw-{Guid.NewGuid():N}";
    public int Port { get; } = FreePort();
    public ConcurrentQueue<MimeMessage> Received { get; } = new();

    private SmtpServer.SmtpServer? _server;
    private CancellationTokenSource? _stop;
    private Task? _running;

    public bool Running => _server is not null;

    public void Start()
    {
        _server.ShouldBeNull("the SMTP server is already running");
        var options = new SmtpServerOptionsBuilder().ServerName("smtp.tests.example")
            .Endpoint(e => e.Endpoint(new IPEndPoint(IPAddress.Loopback, Port)).AuthenticationRequired(true).AllowUnsecureAuthentication(true))
            .Build();
        var services = new SmtpServer.ComponentModel.ServiceProvider();
        services.Add(new Store(this));
        services.Add(new Recipients());
        services.Add(new Credentials(Password));
        _server = new SmtpServer.SmtpServer(options, services);
        _stop = new CancellationTokenSource();
        _running = _server.StartAsync(_stop.Token);
    }

    /// <summary>Stops listening and drops open sessions; a client connecting now is refused.</summary>
    public async Task StopAsync()
    {
        if (_server is null)
        {
            return;
        }
        await _stop!.CancelAsync();
        try
        {
            await _running!.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
        _server = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>The mails to <paramref name="address"/> so far.</summary>
    public List<MimeMessage> To(string address) =>
        Received.Where(m => m.To.Mailboxes.Any(b => string.Equals(b.Address, address, StringComparison.OrdinalIgnoreCase))).ToList();

    /// <summary>Waits (generously: the machine may be loaded) until <paramref name="count"/> mails to <paramref name="address"/> arrived.</summary>
    public async Task<List<MimeMessage>> WaitForAsync(string address, int count = 1, Func<MimeMessage, bool>? where = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var mails = To(address).Where(m => where?.Invoke(m) ?? true).ToList();
            if (mails.Count >= count)
            {
                return mails;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new ShouldAssertException($"{mails.Count} of {count} mail(s) to {address} arrived; all received: "
                    + string.Join(" | ", Received.Select(m => $"{m.To} {m.Subject}")));
            }
            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class Store(SmtpTestServer server) : MessageStore
    {
        public override Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer,
            CancellationToken cancellationToken)
        {
            using var stream = new MemoryStream(buffer.ToArray());
            server.Received.Enqueue(MimeMessage.Load(stream, cancellationToken));
            return Task.FromResult(SmtpResponse.Ok);
        }
    }

    private sealed class Recipients : MailboxFilter
    {
        public override Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken) =>
            Task.FromResult(!to.User.StartsWith("bounce", StringComparison.OrdinalIgnoreCase));
    }

    private sealed class Credentials(string password) : UserAuthenticator
    {
        public override Task<bool> AuthenticateAsync(ISessionContext context, string user, string pass, CancellationToken cancellationToken) =>
            Task.FromResult(user == Username && pass == password);
    }
}
