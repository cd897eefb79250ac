using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Modules.Documents.Types;
using Dms.Platform.Database;
using Dms.Tests.Api;
using Npgsql;
using Shouldly;
using Xunit;

namespace Dms.Tests.DocumentTypes;

/// <summary>
/// Lists filtered and sorted by a custom field, planned as the runtime role under FORCE RLS on the 200,000-document tenant
/// (ADR 0027): one in four documents gets a type with a date, a number and a choice (one in ten of those without a date),
/// once per run. The SQL is the list handler's own (<see cref="DocumentReadModel.FieldSortQuery"/> /
/// <see cref="DocumentReadModel.ListQuery"/>); each plan must walk the field's index, never scan the field table or throw rows away.
/// </summary>
[Collection(LargeTenantGroup.Name)]
public sealed class FieldQueryPlanTests(LargeTenantFixture tenant)
{
    private const int Page = 25;
    private static readonly SemaphoreSlim SeedLock = new(1, 1);
    private static Guid _type;

    private static readonly FieldDefinition[] Fields =
    [
        new("due", "Due date", FieldKind.Date, false, null, null),
        new("amount", "Amount", FieldKind.Number, false, null, null),
        new("state", "State", FieldKind.Select, false, ["open", "paid", "void"], null),
    ];

    private async Task<Guid> TypeAsync()
    {
        await SeedLock.WaitAsync();
        try
        {
            if (_type != Guid.Empty)
            {
                return _type;
            }
            var type = Guid.NewGuid();
            await using var owner = new NpgsqlConnection(tenant.OwnerConnectionString);
            await owner.OpenAsync();
            await using (var tx = await owner.BeginTransactionAsync())
            {
                await Db.EnterTenantAsync(owner, tx, tenant.Tenant, CancellationToken.None);
                await owner.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO document_types (tenant_id, id, name, name_normalized, fields, created_by, updated_by)
                    VALUES (@tenant, @type, 'Invoice', 'invoice', @fields::jsonb, @admin, @admin);
                    UPDATE documents SET type_id = @type,
                      fields = jsonb_build_object('amount', (abs(hashtext(id::text)) % 100000) / 100.0,
                                                  'state', (ARRAY['open', 'paid', 'void'])[1 + abs(hashtext(id::text)) % 3])
                               || CASE WHEN abs(hashtext(id::text)) % 40 < 4 THEN '{}'::jsonb
                                  ELSE jsonb_build_object('due', to_char(date '2024-01-01' + abs(hashtext(id::text)) % 1095, 'YYYY-MM-DD')) END
                    WHERE tenant_id = @tenant AND abs(hashtext(id::text)) % 4 = 0;
                    """, new { tenant = tenant.Tenant, type, admin = tenant.Admin, fields = FieldDefinitions.Serialize(Fields) }, tx, 600));
                await tx.CommitAsync();
            }
            await owner.ExecuteAsync(new CommandDefinition("VACUUM ANALYZE documents", commandTimeout: 600));
            await owner.ExecuteAsync(new CommandDefinition("VACUUM ANALYZE document_field_values", commandTimeout: 600));
            _type = type;
            return type;
        }
        finally
        {
            SeedLock.Release();
        }
    }

    private async Task<FieldListing> ListingAsync(Dictionary<string, string>? filters, string? sort, string? order, FieldCursor? after = null)
    {
        var type = new DocumentType(await TypeAsync(), "Invoice", Fields, 1, DateTime.UtcNow, DateTime.UtcNow);
        return FieldQuery.Parse(type, filters, sort, order, after is null ? null : after.Encode());
    }

    private async Task<PlanCheck> SortedAsync(string name, FieldListing listing, bool nulls, bool member = false, string? withoutIndex = null)
    {
        var filter = new DocumentFilter(tenant.Tenant, null, null, null, null, null, Page, member ? tenant.MemberUser : tenant.AdminUser) { Fields = listing };
        var (sql, p) = DocumentReadModel.FieldSortQuery(filter, listing, nulls);
        Console.WriteLine($"-- {name}\n{sql}");
        var plan = await tenant.ExplainAsync(name, sql, p, withoutIndex is null ? null : $"DROP INDEX {withoutIndex}");
        Console.WriteLine(plan);
        return plan;
    }

    private static void NoFieldTableScan(PlanCheck plan) =>
        plan.Plan.ToString().ShouldNotContain("\"Seq Scan\"", Case.Sensitive, $"a sequential scan in:\n{plan}");

    [Fact]
    public async Task Date_range_sorted_by_the_date_walks_the_date_index()
    {
        var listing = await ListingAsync(new() { ["f.due.gte"] = "2025-03-01", ["f.due.lte"] = "2025-06-30" }, "f.due", "asc");
        var plan = await SortedAsync("typeId + f.due range + sort=f.due", listing, nulls: false);
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_date");
        NoFieldTableScan(plan);
    }

    [Fact]
    public async Task Without_the_date_index_the_same_query_is_not_served()
    {
        var listing = await ListingAsync(new() { ["f.due.gte"] = "2025-03-01", ["f.due.lte"] = "2025-06-30" }, "f.due", "asc");
        var plan = await SortedAsync("typeId + f.due range + sort=f.due, date index dropped", listing, nulls: false, withoutIndex: "document_field_values_date");
        Should.Throw<Xunit.Sdk.XunitException>(() => plan.ShouldUse("document_field_values_date"));
    }

    [Fact]
    public async Task Sorted_by_date_descending_deep_page()
    {
        var listing = await ListingAsync(null, "f.due", "desc", new FieldCursor("due", true, false, "2025-06-15", Guid.Parse("80000000-0000-0000-0000-000000000000")));
        var plan = await SortedAsync("typeId + sort=f.due desc, cursor half way", listing, nulls: false);
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_date");
    }

    [Fact]
    public async Task Documents_without_a_date_come_from_the_same_index()
    {
        var listing = await ListingAsync(null, "f.due", "asc", new FieldCursor("due", false, true, null, Guid.Parse("40000000-0000-0000-0000-000000000000")));
        var plan = await SortedAsync("typeId + sort=f.due, the no-date range", listing, nulls: true);
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_missing");
    }

    [Fact]
    public async Task Number_range_sorted_by_amount()
    {
        var listing = await ListingAsync(new() { ["f.amount.gte"] = "100", ["f.amount.lte"] = "120.5" }, "f.amount", "desc");
        var plan = await SortedAsync("typeId + f.amount range + sort=f.amount desc", listing, nulls: false);
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_number");
    }

    [Fact]
    public async Task Choice_equality_sorted_by_date()
    {
        var listing = await ListingAsync(new() { ["f.state"] = "void" }, "f.due", "asc");
        var plan = await SortedAsync("typeId + f.state=void + sort=f.due", listing, nulls: false);
        // Walks the date index and keeps one row in three: about 3 × the page read and dropped, never the whole type.
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_date");
    }

    [Fact]
    public async Task Date_range_in_the_default_order()
    {
        var listing = await ListingAsync(new() { ["f.due.gte"] = "2025-03-01", ["f.due.lte"] = "2025-03-07" }, null, null);
        var filter = new DocumentFilter(tenant.Tenant, null, null, null, null, null, Page, tenant.AdminUser) { Fields = listing };
        var (sql, p) = DocumentReadModel.ListQuery(filter);
        var plan = await tenant.ExplainAsync("typeId + f.due one week, newest first", sql, p);
        Console.WriteLine(plan);
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_date");
    }

    [Fact]
    public async Task Type_only_in_the_default_order()
    {
        var listing = await ListingAsync(null, null, null);
        var filter = new DocumentFilter(tenant.Tenant, null, null, null, null, null, Page, tenant.AdminUser) { Fields = listing };
        var (sql, p) = DocumentReadModel.ListQuery(filter);
        var plan = await tenant.ExplainAsync("typeId, newest first", sql, p);
        plan.ShouldStayIndexed();
    }

    /// <summary>
    /// A member of two of the four big workspaces: the field's index is walked in order and half its rows are in workspaces
    /// the member reads, so about a page is read and dropped. (A member who reads one document in a small workspace makes the
    /// same walk read every typed document: a known limit, in ADR 0027 with its figures.)
    /// </summary>
    [Fact]
    public async Task A_member_of_two_big_workspaces_sorted_by_date()
    {
        var listing = await ListingAsync(null, "f.due", "asc");
        await using var owner = new NpgsqlConnection(tenant.OwnerConnectionString);
        await owner.OpenAsync();
        await using var tx = await owner.BeginTransactionAsync();
        await Db.EnterTenantAsync(owner, tx, tenant.Tenant, CancellationToken.None);
        var member = await owner.ExecuteScalarAsync<Guid>(
            "SELECT user_id FROM workspace_members WHERE tenant_id = @tenant GROUP BY user_id HAVING count(*) = 2 LIMIT 1", new { tenant = tenant.Tenant }, tx);
        var caller = new Dms.Platform.Security.CurrentUser(member, tenant.Tenant, Dms.Platform.Security.Roles.Member, "m@example.test");
        var filter = new DocumentFilter(tenant.Tenant, null, null, null, null, null, Page, caller) { Fields = listing };
        var (sql, p) = DocumentReadModel.FieldSortQuery(filter, listing, nulls: false);
        var plan = await tenant.ExplainAsync("member of 2 of 4 workspaces + sort=f.due", sql, p);
        Console.WriteLine(plan);
        plan.ShouldStayIndexed();
        plan.ShouldUse("document_field_values_date");
    }
}
