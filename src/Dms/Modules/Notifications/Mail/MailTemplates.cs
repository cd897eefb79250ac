using System.Net;
using System.Text;
using Dms.Modules.Documents;

namespace Dms.Modules.Notifications.Mail;

/// <summary>A notification owed to a recipient by e-mail: a row of <c>mail_deliveries</c>.</summary>
internal sealed record MailItem(Guid Id, Guid UserId, Guid SourceId, string Kind, string Title, string Body, Guid? DocumentId, Guid? ApprovalId, DateTime CreatedAt);

internal sealed record RenderedMail(string Subject, string Text, string Html);

/// <summary>Absolute links in mails: <c>Dms__PublicUrl</c>, or the default local address when it is not set.</summary>
internal sealed record MailLinks(Uri Base)
{
    public string Document(Guid id) => new Uri(Base, $"documents/{id}").ToString();

    public string TrashEntry(Guid id) => new Uri(Base, $"admin/trash#trash-{id}").ToString();

    public string Preferences => new Uri(Base, "account/notifications").ToString();

    public string Inbox => new Uri(Base, "notifications").ToString();

    public string Unsubscribe(string token) => new Uri(Base, $"unsubscribe?token={Uri.EscapeDataString(token)}").ToString();
}

/// <summary>
/// The text and HTML of every mail, per kind (<see cref="NotificationKinds"/> gives each kind its lead sentence and
/// button). Each names the document and links to it; a document deleted since the event is said to be deleted, and for
/// admins the link opens its trash entry. Everything a person typed (titles, reasons) is HTML-encoded.
/// </summary>
internal static class MailTemplates
{
    public static RenderedMail Single(MailItem item, DocumentForReader? document, bool admin, MailLinks links, string unsubscribeUrl)
    {
        var kind = NotificationKinds.Describe(item.Kind);
        var (docLine, link) = DocumentLine(document, admin, links);
        var linkText = document is { Live: true } ? kind.Action : "See what happened to it";
        var text = new StringBuilder()
            .AppendLine(item.Title).AppendLine()
            .AppendLine(kind.Lead)
            .AppendLine(item.Body).AppendLine();
        if (docLine is not null)
        {
            text.AppendLine(docLine).AppendLine($"{linkText}: {link}").AppendLine();
        }
        text.AppendLine("--")
            .AppendLine($"You receive this because e-mail is on for \"{kind.Label}\" notifications.")
            .AppendLine($"Stop these e-mails: {unsubscribeUrl}")
            .AppendLine($"All your notification settings: {links.Preferences}");

        var html = new StringBuilder()
            .Append("<!DOCTYPE html><html><body style=\"font-family:sans-serif;line-height:1.5\">")
            .Append($"<h2 style=\"font-size:1.2em\">{E(item.Title)}</h2>")
            .Append($"<p>{E(kind.Lead)}</p><p>{E(item.Body)}</p>");
        if (docLine is not null)
        {
            html.Append($"<p>{E(docLine)}</p><p><a href=\"{E(link!)}\">{E(linkText)}</a></p>");
        }
        html.Append("<hr><p style=\"font-size:0.85em;color:#555\">")
            .Append($"You receive this because e-mail is on for “{E(kind.Label)}” notifications. ")
            .Append($"<a href=\"{E(unsubscribeUrl)}\">Stop these e-mails</a> · <a href=\"{E(links.Preferences)}\">All your notification settings</a>")
            .Append("</p></body></html>");
        return new RenderedMail(item.Title, text.ToString(), html.ToString());
    }

    public static RenderedMail Digest(IReadOnlyList<(MailItem Item, DocumentForReader? Document)> items, bool admin, MailLinks links, string unsubscribeUrl)
    {
        var subject = items.Count == 1 ? "Your daily summary: 1 notification" : $"Your daily summary: {items.Count} notifications";
        var text = new StringBuilder().AppendLine(subject).AppendLine();
        var html = new StringBuilder()
            .Append("<!DOCTYPE html><html><body style=\"font-family:sans-serif;line-height:1.5\">")
            .Append($"<h2 style=\"font-size:1.2em\">{E(subject)}</h2><ul>");
        foreach (var (item, document) in items)
        {
            var (docLine, link) = DocumentLine(document, admin, links);
            text.AppendLine($"* {item.CreatedAt:yyyy-MM-dd HH:mm} UTC: {item.Title}").AppendLine($"  {item.Body}");
            html.Append($"<li><p><strong>{E(item.Title)}</strong> <small>({item.CreatedAt:yyyy-MM-dd HH:mm} UTC)</small><br>{E(item.Body)}");
            if (docLine is not null)
            {
                text.AppendLine($"  {docLine} {link}");
                html.Append($"<br>{E(docLine)} <a href=\"{E(link!)}\">Open</a>");
            }
            text.AppendLine();
            html.Append("</p></li>");
        }
        text.AppendLine("--")
            .AppendLine("You receive this summary because you chose a daily digest of your e-mail notifications.")
            .AppendLine($"Stop all e-mail: {unsubscribeUrl}")
            .AppendLine($"All your notification settings: {links.Preferences}");
        html.Append("</ul><hr><p style=\"font-size:0.85em;color:#555\">")
            .Append("You receive this summary because you chose a daily digest of your e-mail notifications. ")
            .Append($"<a href=\"{E(unsubscribeUrl)}\">Stop all e-mail</a> · <a href=\"{E(links.Preferences)}\">All your notification settings</a>")
            .Append("</p></body></html>");
        return new RenderedMail(subject, text.ToString(), html.ToString());
    }

    /// <summary>The sentence naming the document as it is now, and where its link goes.</summary>
    private static (string? Line, string? Link) DocumentLine(DocumentForReader? document, bool admin, MailLinks links) => document switch
    {
        null => (null, null),
        { Live: true } => ($"Document: “{document.Title}”", links.Document(document.Id)),
        { Status: DocumentStatus.Purged } => ($"The document “{document.Title}” has since been deleted for good.", links.Document(document.Id)),
        _ when admin => ($"The document “{document.Title}” has since been deleted; it is in the trash.", links.TrashEntry(document.Id)),
        _ => ($"The document “{document.Title}” has since been deleted.", links.Document(document.Id)),
    };

    private static string E(string value) => WebUtility.HtmlEncode(value);
}
