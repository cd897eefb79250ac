using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;
using Npgsql;
using Shouldly;

namespace Dms.Tests.Notifications;

/// <summary>An app of its own that sends mail to <paramref name="smtp"/>, and the steps the mail tests share.</summary>
internal static partial class MailSupport
{
    public const string PublicUrl = "http://dms.tests.example/";

    public static Task<DmsApp> StartAppAsync(string name, SmtpTestServer smtp, IReadOnlyDictionary<string, string>? extra = null,
        Action<IServiceCollection>? services = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Dms:PublicUrl"] = PublicUrl,
            ["Dms:Mail:Host"] = "127.0.0.1",
            ["Dms:Mail:Port"] = smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Dms:Mail:Tls"] = "None",
            ["Dms:Mail:Username"] = SmtpTestServer.Username,
            ["Dms:Mail:Password"] = smtp.Password,
            ["Dms:Mail:From"] = "DMS Tests <dms@tests.example>",
            ["Dms:Mail:Timeout"] = "00:00:10",
            // The tests run the digest job themselves, with the clock where they want it.
            ["Dms:Mail:DigestCheckInterval"] = "1.00:00:00",
            ["Dms:Retention:PurgeInterval"] = "1.00:00:00",
            ["Dms:Previews:Enabled"] = "false",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }
        return DmsApp.CreateIsolatedAsync(name, settings, services);
    }

    public static async Task<Guid> UploadAsync(SignedIn who, string title)
    {
        using var response = await who.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text("some text"), title));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    public static async Task<Guid> RequestDeleteAsync(SignedIn who, Guid documentId)
    {
        using var response = await who.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "Obsolete" });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    public static async Task WaitForStatusAsync(SignedIn admin, Guid approvalId, string status)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        JsonElement request;
        do
        {
            request = await (await admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
            if (request.GetProperty("status").GetString() == status)
            {
                return;
            }
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        throw new ShouldAssertException($"Request {approvalId} never reached {status}: {request}");
    }

    /// <summary>Waits until the tenant's outbox has nothing pending or running: every notification and mail was handled.</summary>
    public static async Task WaitForQuietOutboxAsync(DmsApp app, Guid tenant)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        long open;
        do
        {
            open = await OwnerScalarAsync<long>(app, tenant, "SELECT count(*) FROM outbox_messages WHERE tenant_id = @t AND status IN ('Pending', 'Processing')");
            if (open == 0)
            {
                return;
            }
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        throw new ShouldAssertException($"{open} outbox message(s) still open");
    }

    public static async Task<T> OwnerScalarAsync<T>(DmsApp app, Guid tenant, string sql, params (string Name, object Value)[] parameters)
    {
        await using var conn = new NpgsqlConnection(app.OwnerConnectionString);
        await conn.OpenAsync();
        await using (var set = new NpgsqlCommand($"SELECT set_config('app.tenant_id', '{tenant}', false)", conn))
        {
            await set.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand(sql, conn);
        cmd.Parameters.AddWithValue("t", tenant);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public static async Task<JsonElement> PreferencesAsync(SignedIn who) =>
        await (await who.Client.GetAsync("/api/v1/me/notification-preferences")).JsonAsync();

    public static async Task SetPreferenceAsync(SignedIn who, string kind, bool inApp, bool email, string? digest = null)
    {
        using var response = await who.Client.PutAsJsonAsync("/api/v1/me/notification-preferences", new { kinds = new[] { new { kind, inApp, email } }, digest });
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    public static async Task SetDigestAsync(SignedIn who, string digest)
    {
        using var response = await who.Client.PutAsJsonAsync("/api/v1/me/notification-preferences", new { digest });
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    /// <summary>The links in a mail's text part that point into the app.</summary>
    public static List<Uri> Links(MimeMessage mail) =>
        AppLink().Matches(mail.TextBody ?? "").Select(m => new Uri(m.Value)).ToList();

    [GeneratedRegex(@"http://dms\.tests\.example/[^\s""<>]+")]
    private static partial Regex AppLink();
}

/// <summary>Keeps every log line of an app (message and exception), to prove what is never logged.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs logs, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            logs.Lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
