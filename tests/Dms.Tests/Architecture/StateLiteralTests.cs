using System.Text.RegularExpressions;
using Shouldly;
using Xunit;

namespace Dms.Tests.Architecture;

/// <summary>
/// States of the document, approval (status and type), upload-session and outbox state machines are enums: no state
/// name as a quoted literal in C#, SQL text or Razor. Code writes <c>DocumentStatus.Active</c>, <c>.Db()</c> for a
/// parameter and <c>.Sql()</c> for SQL text instead.
/// </summary>
public sealed partial class StateLiteralTests
{
    internal static readonly string[] States =
    [
        "Active", "PendingDelete", "PendingReplace", "Deleted", "Purged", "Pending", "Approved", "Rejected", "Cancelled",
        "Expired", "Executed", "Failed", "Verifying", "Completed", "Aborted", "Processing", "Done", "Dead", "Delete", "Replace",
    ];

    /// <summary>Quoted words that are the same as a state but are not one. Each entry says why.</summary>
    private static readonly HashSet<(string File, string Literal)> NotStates = new()
    {
        // A user account's label (Disabled/Active): accounts have no state machine, only a disabled flag.
        ("src/Dms/Pages/Admin/Users.cshtml", "\"Active\""),
        // A bulk item's result in words on the job page ("Done"), mapped from the API's lower-case outcome.
        ("src/Dms/Pages/BulkJobs/BulkPages.cs", "\"Done\""),
    };

    // A state name between two quotes of one kind: "Pending" or 'Pending' (SQL), word-exact.
    [GeneratedRegex(@"([""'])(?:Active|PendingDelete|PendingReplace|Deleted|Purged|Pending|Approved|Rejected|Cancelled|Expired|Executed|Failed|Verifying|Completed|Aborted|Processing|Done|Dead|Delete|Replace)\1")]
    private static partial Regex QuotedState();

    // Razor page handler names (asp-page-handler="Delete" posts to OnPostDeleteAsync) are routing, not states.
    [GeneratedRegex(@"\basp-page-handler\s*=\s*""[^""]*""")]
    private static partial Regex PageHandlerAttribute();

    [GeneratedRegex(@"@\*.*?\*@", RegexOptions.Singleline)]
    private static partial Regex RazorComment();

    internal sealed record Found(string File, int Line, string Literal)
    {
        public override string ToString() => $"{File}:{Line} {Literal}";
    }

    /// <summary>State literals in C# source: a string literal that is a state name, or a quoted state name inside a
    /// string literal (SQL's 'Active', JSON's "Active"). Comments do not count.</summary>
    internal static IEnumerable<Found> InCSharp(string path, string source)
    {
        foreach (var literal in CSharpLiterals.Read(source))
        {
            if (States.Contains(literal.Text, StringComparer.Ordinal))
            {
                yield return new Found(path, literal.Line, $"\"{literal.Text}\"");
            }
            foreach (Match m in QuotedState().Matches(literal.Text))
            {
                yield return new Found(path, literal.LineAt(m.Index), m.Value);
            }
        }
    }

    /// <summary>State literals in a Razor file, line by line (markup, C# and script alike); Razor comments do not count.</summary>
    internal static IEnumerable<Found> InRazor(string path, string source)
    {
        // Blank out comments but keep their newlines, so line numbers stay right.
        var text = RazorComment().Replace(source, m => new string('\n', m.Value.Count(c => c == '\n')));
        var lines = text.Split('\n');
        for (var k = 0; k < lines.Length; k++)
        {
            var line = PageHandlerAttribute().Replace(lines[k], "");
            foreach (Match m in QuotedState().Matches(line))
            {
                yield return new Found(path, k + 1, m.Value);
            }
        }
    }

    [Fact]
    public void No_state_name_is_written_as_a_string()
    {
        var found = DmsCode.SourceFiles(".cs").SelectMany(f => InCSharp(f, File.ReadAllText(Path.Combine(DmsCode.RepoRoot, f))))
            .Concat(DmsCode.SourceFiles(".cshtml").SelectMany(f => InRazor(f, File.ReadAllText(Path.Combine(DmsCode.RepoRoot, f)))))
            .Where(f => !NotStates.Contains((f.File, f.Literal)))
            .ToList();

        var perFile = string.Join(", ", found.GroupBy(f => f.File).Select(g => $"{g.Key} {g.Count()}"));
        found.Count.ShouldBe(0, $"{found.Count} state literals in {found.Select(f => f.File).Distinct().Count()} files ({perFile}):{Environment.NewLine}"
            + string.Join(Environment.NewLine, found));
    }
}
