using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static Dms.Tests.Notifications.MailSupport;

namespace Dms.Tests.Webhooks;

/// <summary>
/// "A failing endpoint is paused ... and nothing else is slowed" (issue 15) for the hard case: a receiver that accepts the
/// connection and never answers, so each attempt holds a delivery slot for the whole timeout. A receiver that is down
/// fails fast and proves little; this one is the receiver that would starve the others if one endpoint could take the
/// node's slots. On an app of its own with a small node cap, so a few hanging deliveries could fill it.
/// </summary>
public sealed class SlowReceiverTests(ITestOutputHelper output)
{
    private const int MaxInFlight = 6;
    private const int MaxInFlightPerEndpoint = 2;
    private const int Documents = 16; // far more than the per-endpoint cap, and more than the node cap
    private const int Approvals = 3;
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_receiver_that_never_answers_holds_only_its_own_share_and_another_endpoint_and_approvals_go_on()
    {
        await using var app = await DmsApp.CreateIsolatedAsync($"hookslow_{Guid.NewGuid():N}"[..16], new Dictionary<string, string>
        {
            ["Dms:Webhooks:AllowPrivateTargets"] = "true",
            ["Dms:Webhooks:Timeout"] = AttemptTimeout.ToString("c", CultureInfo.InvariantCulture),
            ["Dms:Webhooks:MaxInFlight"] = MaxInFlight.ToString(CultureInfo.InvariantCulture),
            ["Dms:Webhooks:MaxInFlightPerEndpoint"] = MaxInFlightPerEndpoint.ToString(CultureInfo.InvariantCulture),
            ["Dms:Webhooks:PollInterval"] = "00:00:00.050",
            ["Dms:Previews:Enabled"] = "false",
        });
        // Disposed before the app, so the hanging attempts end and the app's shutdown does not wait them out.
        await using var silent = SilentReceiver.Start();
        await using var fast = await Receiver.StartAsync();
        var tenant = await app.CreateTenantAsync();
        var approver = await tenant.CreateUserAsync("Admin");
        var member = await tenant.CreateUserAsync("Member");

        string[] events = ["document.created", "approval.executed"];
        await RegisterAsync(tenant, silent.Url, events);
        await RegisterAsync(tenant, fast.Url, events);

        // Events for both, published a few at a time so they are all queued well within one timeout: the slow
        // endpoint's deliveries are in line beside the quick one's from the start.
        var startedAt = DateTimeOffset.UtcNow;
        var documents = new List<Guid>();
        foreach (var batch in Enumerable.Range(0, Documents).Chunk(4))
        {
            documents.AddRange(await Task.WhenAll(batch.Select(i => UploadAsync(member, $"Slow receiver {i}"))));
        }

        // Approvals in the same tenant, while the slow receiver holds its deliveries.
        var executedAt = await Task.WhenAll(documents.Take(Approvals).Select(async document =>
        {
            var approvalId = await RequestDeleteAsync(member, document);
            using (var approved = await approver.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "ok" }))
            {
                await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
            }
            await WaitForStatusAsync(tenant.Admin, approvalId, "Executed");
            return DateTimeOffset.UtcNow;
        }));

        const int expected = Documents + Approvals;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (fast.Requests.Count(r => r.Answered == 200) < expected && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }
        var accepted = fast.Requests.Where(r => r.Answered == 200).ToList();
        accepted.Select(r => r.Id).Distinct().Count().ShouldBe(expected, "the quick receiver got every event");
        var quickLast = accepted.Max(r => r.At);

        // Promptly means within the first round of the slow receiver's timeouts: had the slow endpoint taken the node's
        // slots, the quick one would have waited for them to time out. Compared with the timeout, not a wall clock.
        var firstTimeout = silent.FirstClosedAt ?? DateTimeOffset.MaxValue;
        output.WriteLine($"quick receiver: {expected} events, last {(quickLast - startedAt).TotalSeconds:0.00} s after the first upload; "
            + $"approvals executed after {executedAt.Max(a => a - startedAt).TotalSeconds:0.00} s; slow receiver: {silent.Accepted} connections, "
            + $"at most {silent.MaxOpen} open, first given up {(silent.FirstClosedAt is { } c ? $"after {(c - startedAt).TotalSeconds:0.00} s" : "not yet")}; timeout {AttemptTimeout.TotalSeconds} s");
        quickLast.ShouldBeLessThan(firstTimeout, "every quick delivery arrived before the first slow attempt timed out");
        (quickLast - startedAt).ShouldBeLessThan(AttemptTimeout / 2, "every quick delivery arrived well within one timeout of the slow receiver");
        foreach (var at in executedAt)
        {
            at.ShouldBeLessThan(firstTimeout, "approvals were carried out while the slow receiver held its deliveries");
        }

        // The slow endpoint was being sent to all along, never with more than its share in flight.
        silent.Accepted.ShouldBeGreaterThan(0, "the slow receiver was sent to");
        silent.MaxOpen.ShouldBeLessThanOrEqualTo(MaxInFlightPerEndpoint, "the slow endpoint never held more than its share of the node's slots");
    }

    private static async Task RegisterAsync(TestTenant tenant, Uri url, string[] events)
    {
        using var response = await tenant.Admin.Client.PostAsJsonAsync("/api/v1/webhooks", new { url = url.ToString(), events, description = "slow receiver test" });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
    }

    /// <summary>
    /// A receiver that accepts every connection, reads what it is sent and never answers: each attempt waits out the
    /// timeout. It counts connections open at once (one per attempt in flight) and notes when the first was given up.
    /// </summary>
    private sealed class SilentReceiver : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentBag<TcpClient> _clients = [];
        private readonly Task _accepting;
        private readonly Lock _gate = new();
        private int _open;
        private DateTimeOffset? _firstClosedAt;

        private SilentReceiver()
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public static SilentReceiver Start() => new();

        public Uri Url => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hook");

        public int Accepted { get; private set; }

        public int MaxOpen { get; private set; }

        public DateTimeOffset? FirstClosedAt
        {
            get
            {
                lock (_gate)
                {
                    return _firstClosedAt;
                }
            }
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                _clients.Add(client);
                lock (_gate)
                {
                    Accepted++;
                    _open++;
                    MaxOpen = Math.Max(MaxOpen, _open);
                }
                _ = HoldAsync(client);
            }
        }

        /// <summary>Reads until the sender gives up (its timeout) and closes the connection.</summary>
        private async Task HoldAsync(TcpClient client)
        {
            var buffer = new byte[4096];
            try
            {
                var stream = client.GetStream();
                while (await stream.ReadAsync(buffer, _stop.Token) > 0)
                {
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // Stopped by the test, or the sender reset the connection: either way, it is closed.
            }
            var stopped = _stop.IsCancellationRequested;
            lock (_gate)
            {
                _open--;
                if (!stopped)
                {
                    _firstClosedAt ??= DateTimeOffset.UtcNow;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            foreach (var client in _clients)
            {
                client.Dispose();
            }
            await _accepting;
            _stop.Dispose();
        }
    }
}
