using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

// Upload throughput and server memory: one large file through the API (streamed multipart/form-data) and
// by direct upload (presigned part URLs + complete), beside a raw disk copy of the same file as the
// baseline. The server runs as its own process, restarted per scenario, so its peak RSS (VmHWM) is that
// scenario's alone. Usage: dotnet run -c Release --project bench/Dms.Bench -- [--size-mib 1024] [--keep]
var sizeMiB = args.SkipWhile(a => a != "--size-mib").Skip(1).Select(int.Parse).FirstOrDefault(1024);
var work = Path.Combine(Path.GetTempPath(), $"dms-bench-{Environment.ProcessId}");
Directory.CreateDirectory(work);
var source = Path.Combine(work, "input.bin");
var results = new List<Row>();
try
{
    Console.WriteLine($"Generating a {sizeMiB} MiB file of random bytes in {work} ...");
    WriteRandomFile(source, sizeMiB);
    var bytes = new FileInfo(source).Length;

    var copy = Stopwatch.StartNew();
    CopyWithFsync(source, Path.Combine(work, "copy.bin"));
    copy.Stop();
    File.Delete(Path.Combine(work, "copy.bin"));
    results.Add(new Row("raw disk copy (baseline)", copy.Elapsed, bytes, null, null));

    await using (var idle = await Server.StartAsync(work))
    {
        results.Add(new Row("server idle after start", TimeSpan.Zero, 0, idle.PeakRssMiB(), null));
    }

    await using (var server = await Server.StartAsync(work))
    {
        var client = await server.SignedInClientAsync();
        var watch = Stopwatch.StartNew();
        using var form = new MultipartFormDataContent();
        var file = new StreamContent(File.OpenRead(source), 1 << 20);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "bench.txt");
        using var response = await client.PostAsync("/api/v1/documents", form);
        watch.Stop();
        Check(response, HttpStatusCode.Created);
        var document = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        results.Add(new Row("upload through the API (streamed)", watch.Elapsed, bytes, server.PeakRssMiB(), null));

        watch.Restart();
        using var download = await client.GetAsync($"/api/v1/documents/{document}/content?redirect=false", HttpCompletionOption.ResponseHeadersRead);
        await using (var body = await download.Content.ReadAsStreamAsync())
        {
            await body.CopyToAsync(Stream.Null);
        }
        watch.Stop();
        results.Add(new Row("download through the API (streamed)", watch.Elapsed, bytes, server.PeakRssMiB(), null));
    }

    await using (var server = await Server.StartAsync(work))
    {
        var client = await server.SignedInClientAsync();
        var watch = Stopwatch.StartNew();
        using var created = await client.PostAsJsonAsync("/api/v1/uploads", new { fileName = "bench.txt", size = bytes });
        Check(created, HttpStatusCode.Created);
        var session = await created.Content.ReadFromJsonAsync<JsonElement>();
        var partSize = session.GetProperty("partSize").GetInt64();
        var parts = session.GetProperty("parts").EnumerateArray().Select(p => (Number: p.GetProperty("number").GetInt32(), Url: p.GetProperty("url").GetString()!)).ToList();
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        // Four parts in flight, as browser and SDK upload managers do.
        var etags = new (int Number, string ETag)[parts.Count];
        await Parallel.ForEachAsync(parts, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (part, ct) =>
        {
            await using var stream = File.OpenRead(source);
            stream.Seek((part.Number - 1) * partSize, SeekOrigin.Begin);
            var length = Math.Min(partSize, bytes - (part.Number - 1) * partSize);
            using var content = new StreamContent(new LengthLimited(stream, length), 1 << 20);
            content.Headers.ContentLength = length;
            using var put = await http.PutAsync(part.Url, content, ct);
            Check(put, HttpStatusCode.OK);
            etags[part.Number - 1] = (part.Number, put.Headers.ETag!.Tag);
        });
        var transferred = watch.Elapsed;
        using var completed = await client.PostAsJsonAsync($"/api/v1/uploads/{session.GetProperty("id").GetGuid()}/complete",
            new { title = "bench", parts = etags.Select(e => new { number = e.Number, etag = e.ETag }) });
        watch.Stop();
        Check(completed, HttpStatusCode.Created);
        results.Add(new Row($"direct upload: {parts.Count} presigned parts, 4 in flight", transferred, bytes, server.PeakRssMiB(), null));
        results.Add(new Row("direct upload incl. complete (join + verify SHA-256)", watch.Elapsed, bytes, server.PeakRssMiB(), watch.Elapsed - transferred));
    }

    Print(results, sizeMiB);
}
finally
{
    if (!args.Contains("--keep"))
    {
        Directory.Delete(work, recursive: true);
    }
}

static void Print(List<Row> rows, int sizeMiB)
{
    var baseline = rows[0].MiBPerSecond;
    Console.WriteLine();
    Console.WriteLine($"File: {sizeMiB} MiB random bytes · storage: FileSystem · machine: {Environment.ProcessorCount} cores");
    Console.WriteLine();
    Console.WriteLine("| scenario | seconds | MiB/s | vs disk copy | server peak RSS (MiB) |");
    Console.WriteLine("|---|---:|---:|---:|---:|");
    foreach (var row in rows)
    {
        var throughput = row.Bytes > 0 ? row.MiBPerSecond.ToString("F0", CultureInfo.InvariantCulture) : "";
        var ratio = row.Bytes > 0 ? (row.MiBPerSecond / baseline).ToString("F2", CultureInfo.InvariantCulture) + "×" : "";
        var seconds = row.Bytes > 0 ? row.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) : "";
        var extra = row.Complete is { } c ? $" (complete: {c.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)} s)" : "";
        Console.WriteLine($"| {row.Name}{extra} | {seconds} | {throughput} | {ratio} | {row.PeakRss?.ToString("F0", CultureInfo.InvariantCulture) ?? ""} |");
    }
}

static void WriteRandomFile(string path, int sizeMiB)
{
    var buffer = new byte[1 << 20];
    using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
    // Text kind (no NUL bytes, valid ASCII) so the server's type sniffing accepts it as .txt.
    for (var i = 0; i < sizeMiB; i++)
    {
        Random.Shared.NextBytes(buffer);
        for (var j = 0; j < buffer.Length; j++)
        {
            buffer[j] = (byte)('a' + buffer[j] % 26);
        }
        file.Write(buffer);
    }
}

static void CopyWithFsync(string from, string to)
{
    using var input = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
    using var output = new FileStream(to, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
    input.CopyTo(output, 1 << 20);
    output.Flush(flushToDisk: true);
}

static void Check(HttpResponseMessage response, HttpStatusCode expected)
{
    if (response.StatusCode != expected)
    {
        throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {response.Content.ReadAsStringAsync().Result}");
    }
}

internal sealed record Row(string Name, TimeSpan Elapsed, long Bytes, double? PeakRss, TimeSpan? Complete)
{
    public double MiBPerSecond => Bytes / 1048576.0 / Elapsed.TotalSeconds;
}

/// <summary>The DMS server as a child process on the embedded database, one per scenario.</summary>
internal sealed class Server : IAsyncDisposable
{
    private readonly Process _process;
    private readonly int _port;

    private Server(Process process, int port)
    {
        _process = process;
        _port = port;
    }

    public static async Task<Server> StartAsync(string work)
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Dms.dll"), "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["Dms__DataDirectory"] = Path.Combine(work, "server");
        info.Environment["Dms__Bootstrap__AdminPassword"] = "bench-password-1";
        info.Environment["Dms__Uploads__MaxBytes"] = (8L << 30).ToString(CultureInfo.InvariantCulture);
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine($"server: {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new Server(process, port);
        using var http = new HttpClient();
        for (var i = 0; i < 600; i++)
        {
            try
            {
                using var ready = await http.GetAsync($"http://127.0.0.1:{port}/health/ready");
                if (ready.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("The server did not become ready.");
    }

    public async Task<HttpClient> SignedInClientAsync()
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromMinutes(30) };
        using var login = await client.PostAsJsonAsync("/api/v1/auth/login", new { tenant = "demo", email = "admin@demo.local", password = "bench-password-1" });
        login.EnsureSuccessStatusCode();
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>The server's peak resident set so far (VmHWM), in MiB.</summary>
    public double PeakRssMiB()
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    public async ValueTask DisposeAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}

/// <summary>At most <c>length</c> bytes of a stream: one part of the file.</summary>
internal sealed class LengthLimited(Stream inner, long length) : Stream
{
    private readonly long _length = length;
    private long _left = length;

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, (int)Math.Min(count, _left));
        _left -= read;
        return read;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken);
        _left -= read;
        return read;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _length;
    public override long Position { get => _length - _left; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
