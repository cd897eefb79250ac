using System.Text;

namespace Dms.Tests.Architecture;

/// <summary>A string literal of C# source: its text and the line where that text starts. Newlines in the text are the
/// source's own (verbatim and raw strings), so the line of anything inside it is <c>Line</c> + newlines before it.</summary>
internal sealed record SourceLiteral(int Line, string Text)
{
    public int LineAt(int offset) => Line + Text.AsSpan(0, offset).Count('\n');
}

/// <summary>
/// A small lexer that finds the string literals of C# source: regular, verbatim, raw (<c>"""</c>) and interpolated
/// ones in any combination. Comments and char literals are skipped, so SQL or state names mentioned in a comment do not
/// count. Escape sequences become a space (<c>"a\nFROM t"</c> must not read as <c>anFROM</c>). An interpolation hole
/// becomes <c>{}</c> (its newlines kept); string literals inside a hole are returned as literals of their own.
/// Pragmatic, not a compiler: good for the code base it reads, and unit-tested in <see cref="ScannerSelfCheckTests"/>.
/// </summary>
internal static class CSharpLiterals
{
    public static IReadOnlyList<SourceLiteral> Read(string source)
    {
        var lexer = new Lexer(source);
        lexer.Code(inHole: false);
        return lexer.Found;
    }

    private sealed class Lexer(string s)
    {
        private int i;
        private readonly List<int> lineStarts = LineStarts(s);

        public List<SourceLiteral> Found { get; } = [];

        private char At(int k) => k < s.Length ? s[k] : '\0';

        /// <summary>Code up to the end of the source, or (in a hole) up to the '}' that closes the hole, left at that '}'.</summary>
        public void Code(bool inHole)
        {
            var depth = 0;
            while (i < s.Length)
            {
                var c = s[i];
                if (c == '/' && At(i + 1) == '/')
                {
                    while (i < s.Length && s[i] != '\n')
                    {
                        i++;
                    }
                    continue;
                }
                if (c == '/' && At(i + 1) == '*')
                {
                    var end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                    i = end < 0 ? s.Length : end + 2;
                    continue;
                }
                if (c == '\'')
                {
                    SkipChar();
                    continue;
                }
                if (c is '"' or '$' or '@' && TryString())
                {
                    continue;
                }
                if (inHole)
                {
                    if (c is '(' or '[' or '{')
                    {
                        depth++;
                    }
                    else if (c is ')' or ']')
                    {
                        depth--;
                    }
                    else if (c == '}')
                    {
                        if (depth == 0)
                        {
                            return;
                        }
                        depth--;
                    }
                    else if (c == ':' && depth == 0)
                    {
                        // A format specifier ({x:yyyy-MM-dd}) is text up to the closing brace.
                        while (i < s.Length && s[i] != '}')
                        {
                            i++;
                        }
                        continue;
                    }
                }
                i++;
            }
        }

        private void SkipChar()
        {
            i++;
            while (i < s.Length && s[i] != '\'' && s[i] != '\n')
            {
                i += s[i] == '\\' ? 2 : 1;
            }
            i++;
        }

        private bool TryString()
        {
            var j = i;
            var dollars = 0;
            var verbatim = false;
            while (j < s.Length && (s[j] == '$' || s[j] == '@'))
            {
                dollars += s[j] == '$' ? 1 : 0;
                verbatim |= s[j] == '@';
                j++;
            }
            if (At(j) != '"')
            {
                i = Math.Max(j, i + 1); // @identifier or a stray '$'
                return true;
            }
            var quotes = 0;
            while (At(j + quotes) == '"')
            {
                quotes++;
            }
            if (quotes >= 3 && !verbatim)
            {
                Raw(j, quotes, dollars);
            }
            else
            {
                Quoted(j, verbatim, dollars > 0);
            }
            return true;
        }

        private void Quoted(int open, bool verbatim, bool interpolated)
        {
            i = open + 1;
            var start = i;
            var text = new StringBuilder();
            while (i < s.Length)
            {
                var c = s[i];
                if (c == '"')
                {
                    if (verbatim && At(i + 1) == '"')
                    {
                        text.Append('"');
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (!verbatim && c == '\\')
                {
                    text.Append(' ');
                    i += 2;
                    continue;
                }
                if (!verbatim && c == '\n')
                {
                    break; // unterminated: stop at the line's end rather than swallow the file
                }
                if (interpolated && c is '{' or '}' && At(i + 1) == c)
                {
                    text.Append(c);
                    i += 2;
                    continue;
                }
                if (interpolated && c == '{')
                {
                    Hole(text, closingBraces: 1);
                    continue;
                }
                text.Append(c);
                i++;
            }
            Found.Add(new SourceLiteral(LineOf(start), text.ToString()));
        }

        private void Raw(int open, int quotes, int dollars)
        {
            i = open + quotes;
            var start = i;
            var text = new StringBuilder();
            while (i < s.Length)
            {
                var c = s[i];
                if (c == '"')
                {
                    var run = 0;
                    while (At(i + run) == '"')
                    {
                        run++;
                    }
                    if (run >= quotes)
                    {
                        i += run;
                        break;
                    }
                    text.Append('"', run);
                    i += run;
                    continue;
                }
                if (dollars > 0 && c == '{')
                {
                    var run = 0;
                    while (At(i + run) == '{')
                    {
                        run++;
                    }
                    if (run < dollars)
                    {
                        text.Append('{', run);
                        i += run;
                        continue;
                    }
                    // With $$, "{{{x}}}" is a literal brace then a hole: the last `dollars` braces open the hole.
                    text.Append('{', run - dollars);
                    i += run - dollars + dollars - 1;
                    Hole(text, closingBraces: dollars);
                    continue;
                }
                text.Append(c);
                i++;
            }
            Found.Add(new SourceLiteral(LineOf(start), text.ToString()));
        }

        /// <summary>At the hole's (last) opening brace: lex the code inside, write "{}" with the hole's newlines.</summary>
        private void Hole(StringBuilder text, int closingBraces)
        {
            var from = ++i;
            Code(inHole: true);
            text.Append('{').Append('\n', s.AsSpan(from, Math.Min(i, s.Length) - from).Count('\n')).Append('}');
            i += closingBraces;
        }

        private int LineOf(int offset)
        {
            var k = lineStarts.BinarySearch(offset);
            return (k >= 0 ? k : ~k - 1) + 1;
        }

        private static List<int> LineStarts(string s)
        {
            var starts = new List<int> { 0 };
            for (var k = 0; k < s.Length; k++)
            {
                if (s[k] == '\n')
                {
                    starts.Add(k + 1);
                }
            }
            return starts;
        }
    }
}
