using Shouldly;
using Xunit;

namespace Dms.Tests.Architecture;

/// <summary>
/// One owner module per table: a module writes only its own tables and reads only its own tables plus the documented
/// read models; Ui, Pages, Cli and the host touch no table at all (they go through handlers and facades).
/// Reads every SQL string literal of src/Dms (the migrations, which create the schema, left out).
/// </summary>
public sealed class TableOwnershipTests
{
    /// <summary>Who owns each table. This is the table in docs/architecture.md ("Modules and what they own"); change both
    /// together. A new table fails the test until it is given an owner here.</summary>
    internal static readonly IReadOnlyDictionary<string, string> Owners = new Dictionary<string, string>
    {
        ["tenants"] = "Access",
        ["users"] = "Access",
        ["refresh_tokens"] = "Access",
        ["api_tokens"] = "Access",
        ["login_throttle"] = "Access",
        ["workspace_members"] = "Access",
        ["user_groups"] = "Access",
        ["user_group_members"] = "Access",
        ["workspaces"] = "Documents",
        ["folders"] = "Documents",
        ["documents"] = "Documents",
        ["document_versions"] = "Documents",
        ["upload_sessions"] = "Documents",
        ["storage_usage"] = "Documents",
        ["storage_usage_deltas"] = "Documents",
        ["version_texts"] = "Documents",
        ["document_search"] = "Documents",
        ["search_settings"] = "Documents",
        ["document_tags"] = "Documents",
        ["version_renditions"] = "Documents",
        ["document_checkouts"] = "Documents",
        ["document_comments"] = "Documents",
        ["share_links"] = "Documents",
        ["share_settings"] = "Documents",
        ["share_link_tokens"] = "Documents",
        ["bulk_jobs"] = "Documents",
        ["bulk_job_items"] = "Documents",
        ["duplicate_settings"] = "Documents",
        ["document_types"] = "Documents",
        ["document_field_values"] = "Documents",
        ["saved_views"] = "Documents",
        ["saved_view_pins"] = "Documents",
        ["approval_requests"] = "Approvals",
        ["approval_assignees"] = "Approvals",
        ["approval_votes"] = "Approvals",
        ["approval_delegations"] = "Approvals",
        ["workspace_policies"] = "Approvals",
        ["notifications"] = "Notifications",
        ["notification_preferences"] = "Notifications",
        ["notification_settings"] = "Notifications",
        ["mail_deliveries"] = "Notifications",
        ["webhook_endpoints"] = "Webhooks",
        ["webhook_events"] = "Webhooks",
        ["webhook_deliveries"] = "Webhooks",
        ["webhook_attempts"] = "Webhooks",
        ["plans"] = "Billing",
        ["tenant_subscriptions"] = "Billing",
        ["billing_events"] = "Billing",
        ["audit_events"] = "Audit",
        ["audit_heads"] = "Audit",
        ["outbox_messages"] = DmsCode.Platform,
        ["schema_migrations"] = DmsCode.Platform,
        ["idempotency_keys"] = DmsCode.Platform,
        ["tenant_placements"] = DmsCode.Platform,
        ["tenant_move_changes"] = DmsCode.Platform,
    };

    /// <summary>Documented read models: a module may read these tables it does not own (never write them).</summary>
    internal static readonly IReadOnlySet<(string Module, string Table)> ReadModels = new HashSet<(string, string)>
    {
        ("Documents", "workspace_members"), // the readable-workspace filter in list queries
        (DmsCode.Platform, "tenants"),      // Db.ForEachTenantUnderLockAsync walks the tenants
    };

    internal sealed record Violation(string File, int Line, string Area, string Text, string Statement)
    {
        public override string ToString() => $"{File}:{Line} {Area} {Text}";
    }

    /// <summary>The violations in one source file; <paramref name="path"/> is relative to the repo root.</summary>
    internal static IEnumerable<Violation> Check(string path, string source)
    {
        var area = DmsCode.AreaOfFile(path);
        foreach (var literal in CSharpLiterals.Read(source))
        {
            if (SqlTables.LooksLikeLowercaseSql(literal.Text))
            {
                yield return new Violation(path, literal.Line, area, "has SQL with lower-case keywords (write them in capitals so this test can read them)", literal.Text);
            }
            foreach (var use in SqlTables.Find(literal.Text))
            {
                var verb = use.Access == TableAccess.Writes ? "writes" : "reads";
                var line = literal.LineAt(use.Offset);
                if (!Owners.TryGetValue(use.Table, out var owner))
                {
                    yield return new Violation(path, line, area, $"{verb} {use.Table} (owner: none; give the table an owner in docs/architecture.md and this test)", literal.Text);
                }
                else if (owner != area && (use.Access == TableAccess.Writes || !ReadModels.Contains((area, use.Table))))
                {
                    yield return new Violation(path, line, area, $"{verb} {use.Table} (owner: {owner})", literal.Text);
                }
            }
        }
    }

    [Fact]
    public void Every_table_is_written_and_read_only_by_its_owner()
    {
        var violations = DmsCode.SourceFiles(".cs")
            .SelectMany(f => Check(f, File.ReadAllText(Path.Combine(DmsCode.RepoRoot, f))))
            .ToList();

        violations.Count.ShouldBe(0, Summary(violations));
    }

    [Fact]
    public void Every_table_of_the_migrations_has_an_owner()
    {
        var created = Directory.EnumerateFiles(Path.Combine(DmsCode.SourceRoot, "Migrations"), "*.sql")
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), @"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
            .Select(m => m.Groups[1].Value.ToLowerInvariant())
            .ToHashSet();
        created.Add("schema_migrations"); // created by the migration runner, not by a migration

        created.Except(Owners.Keys).ShouldBeEmpty("tables without an owner");
        Owners.Keys.Except(created).ShouldBeEmpty("owned tables that no migration creates");
    }

    private static string Summary(List<Violation> violations)
    {
        static int Statements(IEnumerable<Violation> vs) => vs.Select(v => (v.File, v.Statement)).Distinct().Count();
        var perArea = string.Join(", ", violations.GroupBy(v => v.Area).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} {g.Count()} in {Statements(g)}"));
        return $"{violations.Count} table-ownership violations in {Statements(violations)} SQL statements (per area: violations in statements: {perArea}):{Environment.NewLine}"
            + string.Join(Environment.NewLine, violations);
    }
}
