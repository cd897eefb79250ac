using System.Net;
using System.Text;

namespace Dms.Modules.Documents.Search;

/// <summary>
/// Snippets come from <c>ts_headline</c> with two private-use characters around each match (extraction strips them from
/// text, search from queries), so the text can be HTML-escaped whole and only then given its <c>&lt;mark&gt;</c> tags.
/// </summary>
internal static class Snippets
{
    public const char Start = '\uE000';
    public const char Stop = '\uE001';

    /// <summary>The <c>ts_headline</c> options: two fragments of up to 30 words.</summary>
    public static readonly string Options =
        $"StartSel={Start}, StopSel={Stop}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=\" … \"";

    /// <summary>HTML-safe text with the matches in <c>&lt;mark&gt;</c>; null when the headline highlights nothing.</summary>
    public static string? ToHtml(string? headline)
    {
        if (string.IsNullOrWhiteSpace(headline) || headline.IndexOf(Start, StringComparison.Ordinal) < 0)
        {
            return null;
        }
        var html = new StringBuilder(headline.Length + 32);
        var open = false;
        foreach (var part in headline.Split([Start, Stop]).Select((text, i) => (text, i)))
        {
            if (part.i > 0)
            {
                // Markers alternate Start/Stop; a stray one (cut by the fragment boundary) still yields balanced tags.
                html.Append(open ? "</mark>" : "<mark>");
                open = !open;
            }
            html.Append(WebUtility.HtmlEncode(part.text.ReplaceLineEndings(" ")));
        }
        if (open)
        {
            html.Append("</mark>");
        }
        return html.ToString().Trim();
    }
}
