using Dms.Modules.Approvals.Queries;
using Dms.Modules.Audit.Events;
using Dms.Modules.Documents;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Notifications.Inbox;
using Dms.Platform.Database;
using Dms.Platform.Security;
using Shouldly;
using Xunit;

namespace Dms.Tests.Api;

/// <summary>
/// Every query behind a list or a page, planned as the runtime role under row-level security on a 200,000-document
/// tenant (issue 12, item 7): no sequential scan of a big table, no node that reads and throws away more than
/// <see cref="PlanCheck.MaxRowsRemoved"/> rows. The SQL is the handlers' own, with realistic parameters; a failure
/// names the query and prints the offending node. Adding a query is one short test.
/// </summary>
[Collection(LargeTenantGroup.Name)]
public sealed class QueryPlanTests(LargeTenantFixture tenant)
{
    private const int Page = 25;

    private Task<PlanCheck> ListAsync(string name, CurrentUser caller, DocumentSort? sort = null, DocumentStatus? status = null, string? family = null,
        string? tag = null, Guid? folder = null, Guid? workspace = null, DocumentCursor? after = null, string? withoutIndex = null)
    {
        var (sql, parameters) = DocumentReadModel.ListQuery(new DocumentFilter(tenant.Tenant, null, workspace, folder, tag, after, Page, caller, status, family, sort));
        return tenant.ExplainAsync(name, sql, parameters, withoutIndex is null ? null : $"DROP INDEX {withoutIndex}");
    }

    private static readonly DocumentSort ByTitle = new(DocumentSortKey.Title, false);
    private static readonly DocumentSort ByUpdated = new(DocumentSortKey.UpdatedAt, true);

    [Fact]
    public async Task List_admin_first_page() => (await ListAsync("list admin, first page", tenant.AdminUser)).ShouldStayIndexed();

    [Fact]
    public async Task List_admin_deep_cursor_page() =>
        (await ListAsync("list admin, cursor half way", tenant.AdminUser,
            after: new DocumentCursor(DocumentSort.Default, tenant.Middle.CreatedAt, null, tenant.Middle.Id))).ShouldStayIndexed();

    [Fact]
    public async Task List_sorted_by_title() => (await ListAsync("list sort=title", tenant.AdminUser, ByTitle)).ShouldStayIndexed();

    [Fact]
    public async Task List_sorted_by_title_descending() =>
        (await ListAsync("list sort=title order=desc", tenant.AdminUser, new DocumentSort(DocumentSortKey.Title, true))).ShouldStayIndexed();

    [Fact]
    public async Task List_sorted_by_update() => (await ListAsync("list sort=updatedAt", tenant.AdminUser, ByUpdated)).ShouldStayIndexed();

    [Fact]
    public async Task List_status_filter() =>
        (await ListAsync("list status=PendingDelete", tenant.AdminUser, status: DocumentStatus.PendingDelete)).ShouldStayIndexed();

    [Theory]
    [InlineData("image")]
    [InlineData("pdf")]
    [InlineData("office")]
    [InlineData("text")]
    public async Task List_type_filter(string family) =>
        (await ListAsync($"list type={family}", tenant.AdminUser, family: family)).ShouldStayIndexed();

    [Theory]
    [InlineData("only")]
    [InlineData("rare42")]
    [InlineData("tag3")]
    [InlineData("no-such-tag")]
    public async Task List_tag_filter(string tag) => (await ListAsync($"list tag={tag}", tenant.AdminUser, tag: tag)).ShouldStayIndexed();

    [Fact]
    public async Task List_folder() => (await ListAsync("list folderId", tenant.AdminUser, folder: tenant.Folder)).ShouldStayIndexed();

    [Fact]
    public async Task List_workspace() => (await ListAsync("list workspaceId", tenant.AdminUser, workspace: tenant.BigWorkspaces[1])).ShouldStayIndexed();

    [Fact]
    public async Task List_member_of_one_small_workspace() => (await ListAsync("list member, 1 readable document", tenant.MemberUser)).ShouldStayIndexed();

    [Fact]
    public async Task List_member_sorted_by_title() => (await ListAsync("list member sort=title", tenant.MemberUser, ByTitle)).ShouldStayIndexed();

    [Fact]
    public async Task List_member_sorted_by_update() => (await ListAsync("list member sort=updatedAt", tenant.MemberUser, ByUpdated)).ShouldStayIndexed();

    [Fact]
    public async Task List_member_asking_for_a_workspace_they_cannot_read() =>
        (await ListAsync("list member workspaceId (not theirs)", tenant.MemberUser, workspace: tenant.BigWorkspaces[1])).ShouldStayIndexed();

    [Fact]
    public async Task Get_by_id() =>
        (await tenant.ExplainAsync("GET /documents/{id}", DocumentReadModel.GetForCallerSql,
            new { tenant = tenant.Tenant, id = tenant.SomeDocument, accessUser = tenant.Admin })).ShouldStayIndexed();

    [Fact]
    public async Task Versions_scope_and_list()
    {
        var p = new { tenant = tenant.Tenant, documentId = tenant.SomeDocument, accessUser = tenant.Admin };
        (await tenant.ExplainAsync("GET /documents/{id}/versions: scope", ListVersionsHandler.ScopeSql, p)).ShouldStayIndexed();
        (await tenant.ExplainAsync("GET /documents/{id}/versions: versions", ListVersionsHandler.VersionsSql, p)).ShouldStayIndexed();
    }

    private static object ApprovalParameters(LargeTenantFixture t, bool admin, Guid user, string? status) => new
    {
        tenant = t.Tenant,
        admin,
        user,
        actingFor = new[] { user },
        awaiting = false,
        status,
        type = (string?)null,
        afterAt = (DateTime?)null,
        afterId = Guid.Empty,
        take = Page + 1,
    };

    [Fact]
    public async Task Approval_queue_admin() =>
        (await tenant.ExplainAsync("approvals, admin queue", ListApprovalsHandler.AdminListSql, ApprovalParameters(tenant, true, tenant.Admin, null))).ShouldStayIndexed();

    [Fact]
    public async Task Approval_queue_admin_pending() =>
        (await tenant.ExplainAsync("approvals, admin queue status=Pending", ListApprovalsHandler.AdminListSql,
            ApprovalParameters(tenant, true, tenant.Admin, "Pending"))).ShouldStayIndexed();

    [Fact]
    public async Task Approval_queue_own_requests() =>
        (await tenant.ExplainAsync("approvals, a member's own", ListApprovalsHandler.ListSql,
            ApprovalParameters(tenant, false, tenant.Member, null))).ShouldStayIndexed();

    [Fact]
    public async Task Approval_history_of_a_document() =>
        (await tenant.ExplainAsync("approvals of a document", ApprovalHistoryHandler.HistorySql,
            new { tenant = tenant.Tenant, documentId = tenant.SomeApprovalDocument })).ShouldStayIndexed();

    private Task<PlanCheck> AuditAsync(string name, string? actor = null, string? action = null, string? entityId = null, long? before = null)
    {
        var (where, p) = AuditEventQuery.Where(tenant.Tenant, AuditEventQuery.Parse(actor, action, entityId, null, null));
        p.Add("before", before);
        p.Add("take", 101);
        return tenant.ExplainAsync(name, ListAuditEventsHandler.ListSql(where), p);
    }

    [Fact]
    public async Task Audit_trail_newest_first() => (await AuditAsync("audit, newest first")).ShouldStayIndexed();

    [Fact]
    public async Task Audit_trail_deep_cursor() => (await AuditAsync("audit, cursor half way", before: LargeTenantFixture.AuditEvents / 2)).ShouldStayIndexed();

    [Fact]
    public async Task Audit_trail_by_actor() => (await AuditAsync("audit actor=<id>", actor: tenant.Admin.ToString())).ShouldStayIndexed();

    [Fact]
    public async Task Audit_trail_by_entity() => (await AuditAsync("audit entityId", entityId: "seeded-42")).ShouldStayIndexed();

    // Found by this check: the action filter is `action ILIKE '%…%'`, not LEAKPROOF, so under FORCE RLS it scans the
    // tenant's whole trail (350,004 rows removed at 200k events). Needs an equality or prefix form in AuditEventQuery.
    [Fact]
    public async Task Audit_trail_by_common_action() => (await AuditAsync("audit action=document.downloaded", action: "document.downloaded")).ShouldStayIndexed();

    // The tail the chainer has not sealed yet (ADR 0038), listed first. Without its partial index audit_events_pending the
    // planner still finds it (seq IS NULL on the chain's own index), so there is no "without the index" check for it.
    private Task<PlanCheck> PendingAuditAsync(string name, string? actor = null)
    {
        var (where, p) = AuditEventQuery.Where(tenant.Tenant, AuditEventQuery.Parse(actor, null, null, null, null));
        p.Add("beforeRecorded", null);
        p.Add("pendingTake", 101);
        return tenant.ExplainAsync(name, ListAuditEventsHandler.PendingSql(where), p);
    }

    [Fact]
    public async Task Audit_trail_pending_tail() => (await PendingAuditAsync("audit, pending tail")).ShouldStayIndexed();

    [Fact]
    public async Task Audit_trail_pending_tail_by_actor() => (await PendingAuditAsync("audit actor=<id>, pending tail", tenant.Admin.ToString())).ShouldStayIndexed();

    // Every upload and quota check sums the tenant's counter deltas (ADR 0039): bounded by the fold, found by the tenant index.
    [Fact]
    public async Task Storage_usage_with_its_deltas() =>
        (await tenant.ExplainAsync("storage usage + deltas", StorageUsage.SumsSql, new { tenant = tenant.Tenant })).ShouldStayIndexed();

    private object InboxParameters(Guid user, bool unread) =>
        new { tenant = tenant.Tenant, user, unread, afterAt = (DateTime?)null, afterId = Guid.Empty, take = Page + 1 };

    [Fact]
    public async Task Notifications_inbox() =>
        (await tenant.ExplainAsync("notifications inbox", ListNotificationsHandler.Sql, InboxParameters(tenant.Admin, false))).ShouldStayIndexed();

    [Fact]
    public async Task Notifications_inbox_unread_only() =>
        (await tenant.ExplainAsync("notifications inbox unread=true", ListNotificationsHandler.Sql, InboxParameters(tenant.Admin, true))).ShouldStayIndexed();

    [Fact]
    public async Task Notifications_unread_count() =>
        (await tenant.ExplainAsync("notifications unread count", CountUnreadHandler.Sql, new { tenant = tenant.Tenant, user = tenant.Admin })).ShouldStayIndexed();

    // Search (ADR 0016): the definer function's own query, planned with the values the API passes. Candidates as in
    // SearchOptions; the member's workspaces as the API resolves them. A common word is served by walking the recency
    // index and keeping the matches until there are enough candidates: that reads about candidates / frequency rows
    // (8,000 for a word in 1 of 8 documents), so the bound here is 20 × the candidates; a rarer word must switch to
    // the GIN index, or the check fails.
    private Task<PlanCheck> SearchAsync(string name, string words, bool member = false, string? tag = null, string? breakWith = null) =>
        tenant.PlanOfAsync(name, """
            SELECT document_search_explain(websearch_to_tsquery('dms_simple', @words),
                CASE WHEN @member THEN ARRAY(SELECT workspace_id FROM workspace_members WHERE tenant_id = @tenant AND user_id = @user) END,
                NULL, NULL, @tag, 1000)::text
            """, new { words, member, tag, tenant = tenant.Tenant, user = tenant.Member }, breakWith, maxRowsRemoved: 20 * 1000);

    [Fact]
    public async Task Search_rare_word() => (await SearchAsync("search rare word", "123457")).ShouldStayIndexed();

    [Fact]
    public async Task Search_common_word() => (await SearchAsync("search common word (1 in 8)", "invoice")).ShouldStayIndexed();

    [Fact]
    public async Task Search_phrase() => (await SearchAsync("search phrase", "\"invoice 1000\"")).ShouldStayIndexed();

    [Fact]
    public async Task Search_no_hit() => (await SearchAsync("search no hit", "xylophonic")).ShouldStayIndexed();

    [Fact]
    public async Task Search_as_a_member() => (await SearchAsync("search common word as a member", "report", member: true)).ShouldStayIndexed();

    [Fact]
    public async Task Search_with_a_tag() => (await SearchAsync("search common word with a rare tag", "invoice", tag: "rare42")).ShouldStayIndexed();

    [Fact]
    public async Task Search_total_of_a_common_word_is_the_planners_estimate_not_a_count()
    {
        // 1 in 8 of 200,000 titles say "invoice": above the exact limit the total is an estimate, close to the truth.
        var (total, exact) = await tenant.QueryAsRuntimeRoleAsync<(long, bool)>(
            "SELECT total, exact FROM document_search_count(websearch_to_tsquery('dms_simple', 'invoice'), NULL, NULL, NULL, NULL, 1000)", new { });
        exact.ShouldBeFalse();
        total.ShouldBeInRange(15_000, 40_000);
        var (few, fewExact) = await tenant.QueryAsRuntimeRoleAsync<(long, bool)>(
            "SELECT total, exact FROM document_search_count(websearch_to_tsquery('dms_simple', '123457'), NULL, NULL, NULL, NULL, 1000)", new { });
        (few, fewExact).ShouldBe((1L, true));
    }

    [Fact]
    public async Task Search_fails_the_check_without_its_index() =>
        (await SearchAsync("search rare word without document_search_all", "123457", breakWith: "DROP INDEX document_search_all; DROP INDEX document_search_titles"))
            .Offences().ShouldNotBeEmpty();

    // The check depends on the indexes: without one, the same query on the same data fails it (one per big table).
    [Theory]
    [InlineData("documents_by_family")]
    [InlineData("documents_by_status")]
    [InlineData("documents_workspace, documents_workspace_updated, documents_workspace_title")]
    public async Task Without_a_list_index_the_check_fails(string index)
    {
        var plan = index switch
        {
            "documents_by_family" => await ListAsync("list type=image", tenant.AdminUser, family: "image", withoutIndex: index),
            "documents_by_status" => await ListAsync("list status=PendingDelete", tenant.AdminUser, status: DocumentStatus.PendingDelete, withoutIndex: index),
            _ => await ListAsync("list member", tenant.MemberUser, withoutIndex: index),
        };
        plan.Offences().ShouldNotBeEmpty(plan.ToString());
    }

    [Fact]
    public async Task Without_the_tag_index_the_check_fails() =>
        (await ListAsync("list tag=only", tenant.AdminUser, tag: "only", withoutIndex: "document_tags_by_tag")).Offences().ShouldNotBeEmpty();

    [Fact]
    public async Task Without_the_version_key_the_check_fails() =>
        (await tenant.ExplainAsync("versions", ListVersionsHandler.VersionsSql,
            new { tenant = tenant.Tenant, documentId = tenant.SomeDocument }, breakWith: "ALTER TABLE document_versions DROP CONSTRAINT document_versions_tenant_id_document_id_number_key CASCADE"))
        .Offences().ShouldNotBeEmpty();

    [Fact]
    public async Task Without_the_requester_index_the_check_fails() =>
        (await tenant.ExplainAsync("approvals, a member's own", ListApprovalsHandler.ListSql,
            ApprovalParameters(tenant, false, tenant.Member, null), breakWith: "DROP INDEX approval_requests_requester")).Offences().ShouldNotBeEmpty();

    [Fact]
    public async Task Without_the_actor_index_the_check_fails()
    {
        var (where, p) = AuditEventQuery.Where(tenant.Tenant, AuditEventQuery.Parse(tenant.Admin.ToString(), null, null, null, null));
        p.Add("before", null);
        p.Add("take", 101);
        (await tenant.ExplainAsync("audit actor=<id>", ListAuditEventsHandler.ListSql(where), p, breakWith: "DROP INDEX audit_events_actor")).Offences().ShouldNotBeEmpty();
    }

    [Fact]
    public async Task Without_the_inbox_index_the_check_fails() =>
        (await tenant.ExplainAsync("notifications inbox", ListNotificationsHandler.Sql, InboxParameters(tenant.Admin, false), breakWith: "DROP INDEX notifications_inbox"))
        .Offences().ShouldNotBeEmpty();

    [Fact]
    public async Task Without_the_membership_index_the_check_fails() =>
        (await ListAsync("list member", tenant.MemberUser, withoutIndex: "workspace_members_user")).Offences().ShouldNotBeEmpty();
}
