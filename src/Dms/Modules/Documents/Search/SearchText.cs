using System.Text;
using System.Text.RegularExpressions;

namespace Dms.Modules.Documents.Search;

/// <summary>
/// What the user typed in <c>q=</c>, split for PostgreSQL: web-search syntax (quoted phrases, <c>OR</c>, <c>-word</c>) goes to
/// <c>websearch_to_tsquery</c>; a last plain word still being typed also matches as a prefix (search as you type); plain
/// words without operators are also compared to titles by trigram similarity when full-text search finds too little
/// (typo tolerance).
/// </summary>
internal sealed partial record SearchText(string Head, string? Prefix, bool PrefixOr, string? Plain)
{
    public const int MaxLength = 200;

    // The last word, when it is letters and digits after whitespace or at the start: the one still being typed.
    [GeneratedRegex(@"(?:^|\s)([\p{L}\p{N}]{1,64})$")]
    private static partial Regex LastWord();

    [GeneratedRegex(@"(?:^|\s)or$", RegexOptions.IgnoreCase)]
    private static partial Regex TrailingOr();

    [GeneratedRegex(@"(^|\s)-\S|""|(^|\s)or(\s|$)", RegexOptions.IgnoreCase)]
    private static partial Regex Operators();

    public static SearchText Parse(string q)
    {
        var text = Clean(q);
        var last = LastWord().Match(text);
        var quotesBalanced = text.Count(c => c == '"') % 2 == 0;
        string head = text;
        string? prefix = null;
        var prefixOr = false;
        if (last.Success && quotesBalanced && !string.Equals(last.Groups[1].Value, "or", StringComparison.OrdinalIgnoreCase))
        {
            prefix = last.Groups[1].Value.ToLowerInvariant();
            head = text[..last.Groups[1].Index].TrimEnd();
            var or = TrailingOr().Match(head);
            if (or.Success)
            {
                prefixOr = true;
                head = head[..or.Index].TrimEnd();
            }
        }
        var plain = Operators().IsMatch(text) || text.Length < 3 ? null : text;
        return new SearchText(head, prefix, prefixOr, plain);
    }

    /// <summary>No control characters and none of the private-use characters the snippets use as markers.</summary>
    private static string Clean(string q)
    {
        var sb = new StringBuilder(q.Length);
        foreach (var c in q)
        {
            sb.Append(char.IsControl(c) || c is Snippets.Start or Snippets.Stop ? ' ' : c);
        }
        return sb.ToString().Trim();
    }

    /// <summary>
    /// The SQL expression of the tsquery, in the configuration <paramref name="config"/> (an SQL expression), reading the
    /// parameters <c>@SearchHead</c> and <c>@SearchPrefix</c>.
    /// </summary>
    public string TsQuery(string config)
    {
        var web = $"websearch_to_tsquery({config}, @SearchHead)";
        if (Prefix is null)
        {
            return web;
        }
        var prefix = $"to_tsquery({config}, @SearchPrefix || ':*')";
        return Head.Length == 0 ? prefix : $"({web} {(PrefixOr ? "||" : "&&")} {prefix})";
    }
}
