using Dms.Platform.Outbox;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Dms.Modules.Notifications.Mail;

/// <summary>
/// Sends one message over SMTP with MailKit: a connection per message (mail is rare next to requests, and a fresh
/// connection is the simplest way to never reuse one the server has half closed). A refusal the server says is final
/// (5xx for the sender, recipient or message) is a <see cref="PermanentOutboxFailure"/>: retrying would not change it.
/// Anything else (refused connection, timeout, 4xx) is thrown as it is, and the outbox retries with backoff.
/// </summary>
internal sealed class MailSender(IOptions<MailOptions> options)
{
    public async Task SendAsync(MimeMessage message, CancellationToken ct)
    {
        var settings = options.Value;
        using var client = new SmtpClient { Timeout = (int)settings.Timeout.TotalMilliseconds };
        try
        {
            await client.ConnectAsync(settings.Host ?? "", settings.Port, settings.Tls switch
            {
                MailTls.None => SecureSocketOptions.None,
                MailTls.Tls => SecureSocketOptions.SslOnConnect,
                _ => SecureSocketOptions.StartTls,
            }, ct);
            if (!string.IsNullOrEmpty(settings.Username))
            {
                await client.AuthenticateAsync(settings.Username, settings.Password ?? "", ct);
            }
            await client.SendAsync(message, ct);
            await client.DisconnectAsync(quit: true, ct);
        }
        catch (SmtpCommandException ex) when ((int)ex.StatusCode >= 500 && ex.ErrorCode is SmtpErrorCode.RecipientNotAccepted
            or SmtpErrorCode.SenderNotAccepted or SmtpErrorCode.MessageNotAccepted)
        {
            throw new PermanentOutboxFailure($"The mail server refused the {ex.ErrorCode switch
            {
                SmtpErrorCode.RecipientNotAccepted => "recipient",
                SmtpErrorCode.SenderNotAccepted => "sender",
                _ => "message",
            }} for good ({(int)ex.StatusCode}).");
        }
        catch (AuthenticationException)
        {
            // MailKit's text names no password, but the outbox shows admins only our own words anyway.
            throw new InvalidOperationException("The mail server refused the configured Dms__Mail__Username and password.");
        }
    }

    /// <summary>The right-hand side of Message-IDs: the sender's domain.</summary>
    public string Domain => MailboxAddress.TryParse(options.Value.From, out var from) && from.Domain is { Length: > 0 } domain ? domain : "dms.local";
}
