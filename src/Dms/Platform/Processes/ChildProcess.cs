using System.Diagnostics;
using System.Text;

namespace Dms.Platform.Processes;

/// <summary>
/// Limits for one run of an external tool on untrusted input. The memory cap is an address-space limit set with
/// <c>prlimit</c> (util-linux) before the tool starts, so a decompression bomb fails inside the tool, never in the server.
/// </summary>
internal sealed record ToolLimits(TimeSpan Timeout, long MaxOutputBytes, long MemoryBytes)
{
    public static ToolLimits Default { get; } = new(TimeSpan.FromSeconds(60), 8 * 1024 * 1024, 1024L * 1024 * 1024);
}

/// <summary>What one run of a tool gave: its exit code, its standard output up to the cap, the end of its standard error.</summary>
internal sealed record ToolRun(int ExitCode, byte[] Output, bool OutputTruncated, string ErrorTail, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;

    public string OutputText => Encoding.UTF8.GetString(Output);

    /// <summary>A short reason for a failed run, in our words (the tool's stderr goes to the log, not to users).</summary>
    public string Describe(string tool, ToolLimits limits) => TimedOut
        ? $"{tool} did not finish within {limits.Timeout.TotalSeconds:0} s."
        : $"{tool} failed (exit code {ExitCode}).";
}

/// <summary>
/// Runs external tools (pdftotext, tesseract, pdftoppm, vips, LibreOffice) as child processes with a time limit, an
/// output cap and a memory cap. The whole process tree is killed on timeout, on cancellation and when the output
/// exceeds its cap, so a hostile file costs at most the limits and never the server's health.
/// </summary>
internal static class ChildProcess
{
    private const int ErrorTailChars = 2000;

    public static async Task<ToolRun> RunAsync(string tool, IEnumerable<string> arguments, ToolLimits limits, CancellationToken ct,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo
        {
            FileName = "prlimit",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        start.ArgumentList.Add($"--as={limits.MemoryBytes}");
        start.ArgumentList.Add("--core=0");
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(tool);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                start.Environment[key] = value;
            }
        }

        using var process = new Process { StartInfo = start };
        process.Start();
        process.StandardInput.Close();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(limits.Timeout);

        var output = new MemoryStream();
        var truncated = false;
        var readOutput = Task.Run(async () =>
        {
            var buffer = new byte[81920];
            var stdout = process.StandardOutput.BaseStream;
            int read;
            while ((read = await stdout.ReadAsync(buffer, CancellationToken.None)) > 0)
            {
                var room = (int)Math.Min(read, limits.MaxOutputBytes - output.Length);
                if (room > 0)
                {
                    output.Write(buffer, 0, room);
                }
                if (room < read)
                {
                    truncated = true;
                    Kill(process);
                    break;
                }
            }
        }, CancellationToken.None);
        var readError = Task.Run(async () =>
        {
            var tail = new StringBuilder();
            var buffer = new char[4096];
            int read;
            while ((read = await process.StandardError.ReadAsync(buffer, CancellationToken.None)) > 0)
            {
                tail.Append(buffer, 0, read);
                if (tail.Length > ErrorTailChars * 2)
                {
                    tail.Remove(0, tail.Length - ErrorTailChars);
                }
            }
            return tail.Length > ErrorTailChars ? tail.ToString(tail.Length - ErrorTailChars, ErrorTailChars) : tail.ToString();
        }, CancellationToken.None);

        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            timedOut = true;
        }
        await readOutput;
        var errorTail = await readError;
        return new ToolRun(process.ExitCode, output.ToArray(), truncated, errorTail, timedOut);
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }
}
