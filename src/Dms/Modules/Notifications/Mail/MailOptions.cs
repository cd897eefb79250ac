namespace Dms.Modules.Notifications.Mail;

/// <summary>How the SMTP connection is secured (<c>Dms__Mail__Tls</c>).</summary>
internal enum MailTls
{
    /// <summary>Plain text: only for a relay on the same host or a private network.</summary>
    None,

    /// <summary>Connect in plain text, then upgrade with STARTTLS (port 587); refuses a server that does not offer it.</summary>
    StartTls,

    /// <summary>TLS from the first byte (port 465).</summary>
    Tls,
}

/// <summary><c>Dms__Mail__*</c>: the SMTP server mail is sent through. No host: e-mail is off (preferences are still kept).</summary>
internal sealed class MailOptions
{
    public const string Section = "Dms:Mail";

    public string? Host { get; set; }
    public int Port { get; set; } = 587;
    public MailTls Tls { get; set; } = MailTls.StartTls;
    public string? Username { get; set; }

    /// <summary>Never logged nor shown; only handed to the SMTP server when <see cref="Username"/> is set.</summary>
    public string? Password { get; set; }

    /// <summary>The sender, as an address or <c>Name &lt;address&gt;</c>.</summary>
    public string From { get; set; } = "DMS <dms@localhost>";

    /// <summary>How long one SMTP step (connect, a command, the message) may take before the attempt fails and is retried.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The hour of the day (UTC, 0–23) from which daily digests are sent.</summary>
    public int DigestHour { get; set; } = 7;

    /// <summary>How often a worker node looks for digests due.</summary>
    public TimeSpan DigestCheckInterval { get; set; } = TimeSpan.FromMinutes(5);

    public bool Enabled => !string.IsNullOrWhiteSpace(Host);
}
