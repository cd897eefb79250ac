using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Web;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace Dms.Tests.Operations;

/// <summary>
/// Every log line the app writes at any level, with request logging on and every request "slow", while secrets pass
/// through it: passwords, access and refresh tokens, a personal token, signed storage URLs. None may appear.
/// </summary>
public sealed class LogSecrecyTests
{
    private sealed class Capture : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(Capture capture, string category) : ILogger, IDisposable
        {
            public IDisposable BeginScope<TState>(TState state) where TState : notnull
            {
                capture.Lines.Enqueue($"{category} scope {state}");
                return this;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var line = new StringBuilder($"{logLevel} {category} {formatter(state, exception)} {exception}");
                if (state is IEnumerable<KeyValuePair<string, object?>> fields)
                {
                    foreach (var (key, value) in fields)
                    {
                        line.Append($" {key}={value}");
                    }
                }
                capture.Lines.Enqueue(line.ToString());
            }

            public void Dispose()
            {
            }
        }
    }

    [Fact]
    public async Task No_password_token_or_signed_url_is_ever_logged()
    {
        var capture = new Capture();
        await using var app = await DmsApp.CreateIsolatedAsync($"logs_{Guid.NewGuid():N}"[..16],
            new Dictionary<string, string>
            {
                // As an operator turning every log on: only the categories the app itself holds back stay quiet.
                ["Logging:LogLevel:Default"] = "Trace",
                ["Dms:Logs:Requests"] = "true",
                ["Dms:Logs:SlowRequest"] = "00:00:00",
                ["Dms:Logs:SlowQuery"] = "00:00:00",
            },
            services => services.AddLogging(b => b.AddProvider(capture)));
        var tenant = await app.CreateTenantAsync();
        var member = await tenant.CreateUserAsync("Member");
        using (var wrong = await app.CreateClient().PostAsJsonAsync("/api/v1/auth/login", new { tenant = tenant.Slug, email = member.Email, password = "Wrong-Secret-Password-42" }))
        {
            wrong.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        }
        using var token = await member.Client.PostAsJsonAsync("/api/v1/me/tokens", new { name = "logs", expiresAt = DateTime.UtcNow.AddDays(1) });
        var personal = (await token.JsonAsync()).GetProperty("token").GetString()!;
        using (var viaToken = await app.ClientWithToken(personal).GetAsync("/api/v1/documents"))
        {
            await viaToken.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var session = await member.Client.PostAsJsonAsync("/api/v1/uploads", new { fileName = "a.txt", size = 5 });
        var put = new Uri((await session.JsonAsync()).GetProperty("url").GetString()!);
        using (await app.SendToUrlAsync(HttpMethod.Put, put, new ByteArrayContent(Encoding.UTF8.GetBytes("hello"))))
        {
            // Whatever it answers, the signed URL went through the app's request pipeline and its logs.
        }
        using var upload = await member.Client.PostAsync("/api/v1/documents", Uploads.Form("b.txt", Uploads.Text("secretive"), "Logged"));
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        using var redirect = await app.ClientWithTokenNoRedirect(member.Tokens.AccessToken).GetAsync($"/api/v1/documents/{documentId}/content");
        var get = redirect.Headers.Location!;
        using (var download = await app.SendToUrlAsync(HttpMethod.Get, get))
        {
            download.IsSuccessStatusCode.ShouldBeTrue($"{download.StatusCode} {get} {await download.Content.ReadAsStringAsync()}");
        }
        await Task.Delay(500); // the outbox's lines for the upload

        string[] secrets =
        [
            member.Password, tenant.Admin.Password, "Wrong-Secret-Password-42", member.Tokens.AccessToken, member.Tokens.RefreshToken, personal,
            .. new[] { put, get }.SelectMany(u => HttpUtility.ParseQueryString(u.Query) is var q ? q.AllKeys.Where(k => k is "token" or "sig" or "signature" or "X-Amz-Signature").Select(k => q[k]!) : []),
        ];
        secrets.Length.ShouldBeGreaterThan(6, "the signed URLs carry signatures to look for");
        var lines = capture.Lines.ToArray();
        lines.Length.ShouldBeGreaterThan(50, "request logging and slow-request warnings were on");
        lines.ShouldContain(l => l.Contains("Slow request", StringComparison.Ordinal));
        lines.ShouldContain(l => l.Contains("Slow query", StringComparison.Ordinal));
        foreach (var secret in secrets.Where(s => s.Length >= 8))
        {
            lines.Where(l => l.Contains(secret, StringComparison.Ordinal)).ShouldBeEmpty($"a secret of {secret.Length} characters is in the log");
        }
    }
}
