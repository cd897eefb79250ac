using System.Text;
using Microsoft.Extensions.Logging;

namespace Dms.Tests.Infrastructure;

/// <summary>
/// Every log line of every in-process test app, at Information and above (as the apps' own category filters let them
/// through), appended to <c>TestResults/app-logs/dms-tests.log</c>. After the suite, test.sh scans the whole file for
/// anything shaped like a token, a signed URL or a test password: none may ever be logged (issue 14).
/// </summary>
internal sealed class RunLog : ILoggerProvider
{
    public static readonly RunLog Provider = new();
    private static readonly Lock Gate = new();
    private readonly StreamWriter? _writer;

    private RunLog()
    {
        var folder = Environment.GetEnvironmentVariable("DMS_TEST_APP_LOGS");
        if (string.IsNullOrEmpty(folder))
        {
            return; // only when test.sh asks for it
        }
        Directory.CreateDirectory(folder);
        _writer = new StreamWriter(Path.Combine(folder, $"dms-tests-{Environment.ProcessId}.log"), append: true, Encoding.UTF8) { AutoFlush = true };
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
        // Shared by every app of the run; the writer flushes each line and closes with the process.
    }

    private void Write(string line)
    {
        if (_writer is null)
        {
            return;
        }
        lock (Gate)
        {
            _writer.WriteLine(line);
        }
    }

    private sealed class Logger(RunLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            log.Write($"scope {category} {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => log._writer is not null && logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            var line = new StringBuilder($"{logLevel} {category} {formatter(state, exception)}");
            if (state is IEnumerable<KeyValuePair<string, object?>> fields)
            {
                foreach (var (key, value) in fields)
                {
                    line.Append($" {key}={value}");
                }
            }
            if (exception is not null)
            {
                line.Append(' ').Append(exception);
            }
            log.Write(line.ToString().ReplaceLineEndings(" "));
        }
    }
}
