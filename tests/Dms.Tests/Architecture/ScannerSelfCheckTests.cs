using Microsoft.AspNetCore.Http;
using Mono.Cecil;
using Shouldly;
using Xunit;

namespace Dms.Tests.Architecture;

/// <summary>The scanners behind the architecture tests, on synthetic input that they must flag (and input they must not):
/// a rule that cannot see a violation would pass forever.</summary>
public sealed class ScannerSelfCheckTests
{
    private const string Q = "\"";

    [Theory]
    [InlineData("INSERT INTO documents (id) VALUES (@id)", "documents:Writes")]
    [InlineData("UPDATE documents d SET title = @t FROM folders f JOIN workspaces w ON w.id = f.workspace_id WHERE f.id = d.folder_id", "documents:Writes folders:Reads workspaces:Reads")]
    [InlineData("WITH gone AS (DELETE FROM upload_sessions WHERE id = @id RETURNING id) UPDATE approval_requests SET status = @s WHERE id IN (SELECT id FROM gone)", "upload_sessions:Writes approval_requests:Writes")]
    [InlineData("UPDATE outbox_messages SET status = @s WHERE id = @id RETURNING id, attempts", "outbox_messages:Writes")]
    [InlineData("WITH RECURSIVE up(id, depth) AS (SELECT id, 1 FROM folders UNION ALL SELECT f.id, 2 FROM folders f JOIN up ON f.id = up.id) SELECT id FROM up", "folders:Reads folders:Reads")]
    [InlineData("SELECT id FROM documents WHERE tenant_id = @t FOR UPDATE OF documents SKIP LOCKED", "documents:Reads")]
    [InlineData("SELECT 1 FROM users FOR NO KEY UPDATE", "users:Reads")]
    [InlineData("INSERT INTO login_throttle (k) VALUES (@k) ON CONFLICT (k) DO UPDATE SET n = login_throttle.n + 1", "login_throttle:Writes")]
    [InlineData("SELECT k FROM unnest(@keys) AS k WHERE NOT EXISTS (SELECT 1 FROM document_versions v WHERE v.key = k)", "document_versions:Reads")]
    [InlineData("SELECT 1 FROM pg_roles r JOIN pg_catalog.pg_namespace n ON true", "")]
    [InlineData("SELECT a IS DISTINCT FROM b, EXTRACT(EPOCH FROM created_at) FROM notifications", "notifications:Reads")]
    [InlineData("DELETE FROM refresh_tokens t USING users u WHERE u.id = t.user_id", "refresh_tokens:Writes users:Reads")]
    [InlineData("TRUNCATE TABLE audit_heads", "audit_heads:Writes")]
    [InlineData("MERGE INTO api_tokens t USING tenants s ON s.id = t.tenant_id WHEN MATCHED THEN DELETE", "api_tokens:Writes tenants:Reads")]
    [InlineData("SELECT id FROM shiny_new_table", "shiny_new_table:Reads")]
    [InlineData("REVOKE ALL ON DATABASE dms FROM PUBLIC", "")]
    [InlineData("Remove the file from storage, then update the index and join workspaces.", "")]
    [InlineData("SELECT {} FROM {} WHERE id = @id", "")]
    [InlineData("CREATE TRIGGER t_u AFTER UPDATE ON {} REFERENCING OLD TABLE AS dms_old FOR EACH STATEMENT EXECUTE FUNCTION f()", "")]
    public void Finds_the_tables_an_SQL_text_writes_and_reads(string sql, string expected) =>
        string.Join(' ', SqlTables.Find(sql).Select(u => $"{u.Table}:{u.Access}")).ShouldBe(expected);

    [Fact]
    public void Lower_case_SQL_is_noticed_rather_than_silently_skipped()
    {
        SqlTables.LooksLikeLowercaseSql("  select id from documents").ShouldBeTrue();
        SqlTables.LooksLikeLowercaseSql("update documents set title = @t").ShouldBeTrue();
        SqlTables.LooksLikeLowercaseSql("Select a file from your computer").ShouldBeFalse();
    }

    [Fact]
    public void Reads_every_kind_of_string_literal_and_skips_comments()
    {
        var source = string.Join('\n',
            "// SELECT 1 FROM comment_only",                                     // 1
            "var a = " + Q + "regular \\n" + Q + "; var c = '\"';",              // 2
            "var b = @" + Q + "verbatim " + Q + Q + "quoted" + Q + Q + Q + ";",   // 3
            "/* \"not a literal\" */ var d = $" + Q + "x {(y ? " + Q + "in hole" + Q + " : z)} {{w}}" + Q + ";", // 4
            "var e = $$" + Q + Q + Q,                                            // 5
            "    SELECT {{Columns}} FROM t {x}",                                 // 6
            "    WHERE a = 'Done'",                                              // 7
            "    " + Q + Q + Q + ";");                                           // 8

        var literals = CSharpLiterals.Read(source);

        literals.Select(l => (l.Line, l.Text.Trim())).ShouldBe(
        [
            (2, "regular"),
            (3, "verbatim \"quoted\""),
            (4, "in hole"),
            (4, "x {} {w}"),
            (5, "SELECT {} FROM t {x}\n    WHERE a = 'Done'"),
        ]);
        var raw = literals[^1];
        raw.LineAt(raw.Text.IndexOf("'Done'", StringComparison.Ordinal)).ShouldBe(7);
    }

    [Fact]
    public void Table_ownership_flags_foreign_writes_reads_unknown_tables_and_sql_outside_modules()
    {
        var source = string.Join('\n',
            "class X {",
            "  const string A = " + Q + "UPDATE documents SET status = @s" + Q + ";",
            "  string B => $" + Q + Q + Q,
            "      SELECT d.id FROM workspace_members m",
            "      JOIN users u ON u.id = m.user_id",
            "      " + Q + Q + Q + ";",
            "  const string C = " + Q + "INSERT INTO approval_requests (id) VALUES (@id)" + Q + ";",
            "  const string D = " + Q + "SELECT 1 FROM tags" + Q + ";",
            "}");

        TableOwnershipTests.Check("src/Dms/Modules/Approvals/Execution/X.cs", source).Select(v => v.ToString()).ShouldBe(
        [
            "src/Dms/Modules/Approvals/Execution/X.cs:2 Approvals writes documents (owner: Documents)",
            "src/Dms/Modules/Approvals/Execution/X.cs:4 Approvals reads workspace_members (owner: Access)",
            "src/Dms/Modules/Approvals/Execution/X.cs:5 Approvals reads users (owner: Access)",
            "src/Dms/Modules/Approvals/Execution/X.cs:8 Approvals reads tags (owner: none; give the table an owner in docs/architecture.md and this test)",
        ]);
        // The documented read model: Documents may read workspace_members, never write it.
        TableOwnershipTests.Check("src/Dms/Modules/Documents/Browse/X.cs", source).Select(v => v.Line).ShouldBe([5, 7, 8]);
        TableOwnershipTests.Check("src/Dms/Pages/X.cshtml.cs", "var s = \"SELECT 1 FROM documents\";").Single().Area.ShouldBe("Pages");
        TableOwnershipTests.Check("src/Dms/Platform/Database/X.cs", "var s = \"SELECT id FROM tenants\";").ShouldBeEmpty();
    }

    [Fact]
    public void State_literals_are_found_in_CSharp_SQL_and_Razor_but_not_in_comments_or_page_handler_names()
    {
        var cs = string.Join('\n',
            "// status \"Pending\" in a comment is fine",
            "if (s == " + Q + "Pending" + Q + ") { }",
            "var sql = " + Q + "WHERE status IN ('Active', 'PendingDelete')" + Q + ";",
            "var ok = " + Q + "Pending approval" + Q + " + " + Q + "Activeness" + Q + ";");
        StateLiteralTests.InCSharp("a.cs", cs).Select(f => f.ToString()).ShouldBe(["a.cs:2 \"Pending\"", "a.cs:3 'Active'", "a.cs:3 'PendingDelete'"]);

        var razor = string.Join('\n',
            "@* \"Deleted\" *@",
            "<form asp-page-handler=\"Delete\">",
            "@if (r.Type == \"Replace\") { }",
            "<span class=\"badge\">Rejected</span>");
        StateLiteralTests.InRazor("a.cshtml", razor).Select(f => f.ToString()).ShouldBe(["a.cshtml:3 \"Replace\""]);
    }

    [Fact]
    public void IL_facts_include_what_lambdas_and_async_methods_use()
    {
        using var module = ModuleDefinition.ReadModule(typeof(SamplePage).Assembly.Location, new ReaderParameters { ReadingMode = ReadingMode.Immediate });
        var facts = Il.Facts(module).Single(t => t.Type.Name == nameof(SamplePage));

        facts.Uses.ShouldContain(new TypeName(typeof(SampleEndpoints).Namespace!, nameof(SampleEndpoints))); // called in an async method
        facts.Uses.ShouldContain(new TypeName("Microsoft.AspNetCore.Http", "IResult"));                      // in a lambda
        facts.Strings.Select(s => s.Value).ShouldContain("SELECT id FROM documents");                          // in a lambda
        facts.Strings.Select(s => s.Value).ShouldContain("DELETE FROM documents WHERE id = @id");              // a constant
        facts.Calls.ShouldContain((new TypeName(typeof(SampleEndpoints).Namespace!, nameof(SampleEndpoints)), nameof(SampleEndpoints.Handle)));
    }

    [Fact]
    public void Compiled_Razor_views_count_as_pages()
    {
        // Views compile to Pages_… types, in Dms.Pages (from _ViewImports' @namespace) or else in AspNetCoreGeneratedDocument.
        var views = DmsCode.Types.Where(t => t.Type.Name.StartsWith("Pages_", StringComparison.Ordinal)).ToList();
        views.Select(v => v.Type.Name).ShouldContain("Pages_Documents");
        views.ShouldAllBe(v => DmsCode.AreaOf(v.Type) == DmsCode.Pages);
        DmsCode.AreaOf(new TypeName("AspNetCoreGeneratedDocument", "Pages_Admin_Users")).ShouldBe(DmsCode.Pages);
        DmsCode.Types.Where(t => DmsCode.AreaOf(t.Type) == DmsCode.Pages).Select(t => t.Type.Name).ShouldContain("DocumentsModel");
    }

    [Fact]
    public void Dependency_rules_flag_each_kind_of_offence()
    {
        using var module = ModuleDefinition.ReadModule(typeof(SamplePage).Assembly.Location, new ReaderParameters { ReadingMode = ReadingMode.Immediate });
        var sample = Il.Facts(module).Single(t => t.Type.Name == nameof(SamplePage));
        TypeFacts As(string ns, string name, params TypeName[] uses) => new(new TypeName(ns, name), uses.ToHashSet(), []);

        // The sample page's real IL, placed in Dms.Pages: it calls an endpoint, holds SQL and touches IResult.
        var page = sample with { Type = new TypeName("Dms.Pages", "SampleModel") };
        DependencyRuleTests.PageEndpointOffences([page]).Select(o => o.To.Name).ShouldBe(["IResult", nameof(SampleEndpoints)], ignoreOrder: true);
        DependencyRuleTests.SqlHolders([page]).Count().ShouldBe(2);
        DependencyRuleTests.SqlHolders([sample with { Type = new TypeName("Dms.Modules.Documents.Edit", "EditEndpoint") }]).Count().ShouldBe(2);
        DependencyRuleTests.SqlHolders([sample with { Type = new TypeName("Dms.Modules.Documents.Edit", "EditHandler") }]).ShouldBeEmpty();
        DependencyRuleTests.PageEndpointOffences([As("AspNetCoreGeneratedDocument", "Pages_Documents", new TypeName("Dms.Modules.Documents.Browse", "BrowseEndpoints"))]).Count().ShouldBe(1);

        var facade = new TypeName("Dms.Modules.Documents", "DocumentsFacade");
        var inner = new TypeName("Dms.Modules.Documents.Domain", "DocumentRow");
        var own = new TypeName("Dms.Modules.Approvals.Domain", "ApprovalRow");
        DependencyRuleTests.FacadeOffences([As("Dms.Modules.Approvals.Execution", "ExecutionHandlers", facade, inner, own)]).Single().To.ShouldBe(inner);

        DependencyRuleTests.PlatformOffences([As("Dms.Platform.Outbox", "OutboxDispatcher", facade, new TypeName("Dms.Ui", "Display"), new TypeName("Dms.Platform.Database", "Db"))])
            .Select(o => o.To.Name).ShouldBe(["DocumentsFacade", "Display"], ignoreOrder: true);
        DependencyRuleTests.ModuleToUiOffences([As("Dms.Modules.Access", "AccessModule", new TypeName("Dms.Pages", "LoginModel"), facade)]).Single().To.Name.ShouldBe("LoginModel");
    }
}

#pragma warning disable CA1812, CA1822 // instantiated by nobody: only their IL is read
internal static class SampleEndpoints
{
    public static int Handle() => 1;
}

internal sealed class SamplePage
{
    private const string Purge = "DELETE FROM documents WHERE id = @id";

    public async Task<int> OnGetAsync()
    {
        await Task.Yield();
        return SampleEndpoints.Handle();
    }

    public Func<string> Query => () => "SELECT id FROM documents";

    public Func<object, bool> Unwrap => o => o is IResult;

    public string PurgeSql => Purge;
}
#pragma warning restore CA1812, CA1822
