using Dms.Modules.Documents;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Views;
using Dms.Platform.Security;
using Dms.Tests.Api;
using Xunit;
using Xunit.Abstractions;

namespace Dms.Tests.Views;

/// <summary>
/// A pinned view's count, planned as the runtime role under row-level security on the 200,000-document tenant of
/// <see cref="LargeTenantFixture"/>: capped at 1,000 it stays on the list's indexes whatever the filter, for an admin and for a member
/// who may read one small workspace. The SQL is <see cref="ViewCounter.CountQuery"/>, exactly what the home page runs.
/// </summary>
[Collection(LargeTenantGroup.Name)]
public sealed class ViewCountPlanTests(LargeTenantFixture tenant, ITestOutputHelper output)
{
    private const int Cap = 1000;

    private async Task<PlanCheck> CountAsync(string name, CurrentUser caller, string? tag = null, DocumentStatus? status = null, string? family = null,
        Guid? workspace = null, Guid? folder = null)
    {
        var (sql, parameters) = ViewCounter.CountQuery(new DocumentFilter(tenant.Tenant, null, workspace, folder, tag, null, 1, caller, status, family), Cap);
        var plan = await tenant.ExplainAsync(name, sql, parameters);
        output.WriteLine($"{name}: {plan.Plan.GetProperty("Actual Total Time").GetDouble():F1} ms");
        return plan;
    }

    [Fact]
    public async Task Count_admin_no_filter() => (await CountAsync("count admin, no filter", tenant.AdminUser)).ShouldStayIndexed();

    [Theory]
    [InlineData("tag3")]
    [InlineData("rare42")]
    [InlineData("no-such-tag")]
    public async Task Count_admin_tag(string tag) => (await CountAsync($"count admin tag={tag}", tenant.AdminUser, tag: tag)).ShouldStayIndexed();

    [Fact]
    public async Task Count_admin_status() =>
        (await CountAsync("count admin status=PendingDelete", tenant.AdminUser, status: DocumentStatus.PendingDelete)).ShouldStayIndexed();

    [Fact]
    public async Task Count_admin_type() => (await CountAsync("count admin type=image", tenant.AdminUser, family: "image")).ShouldStayIndexed();

    [Fact]
    public async Task Count_admin_folder() => (await CountAsync("count admin folder", tenant.AdminUser, folder: tenant.Folder)).ShouldStayIndexed();

    [Fact]
    public async Task Count_member_of_one_small_workspace() => (await CountAsync("count member", tenant.MemberUser)).ShouldStayIndexed();

    [Fact]
    public async Task Count_member_tag() => (await CountAsync("count member tag=tag3", tenant.MemberUser, tag: "tag3")).ShouldStayIndexed();

    [Fact]
    public async Task Count_member_naming_a_workspace_they_cannot_read() =>
        (await CountAsync("count member, unreadable workspace", tenant.MemberUser, workspace: tenant.BigWorkspaces[1])).ShouldStayIndexed();
}
