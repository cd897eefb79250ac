using System.Net;
using System.Text.RegularExpressions;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Seats;

/// <summary>Which user changes take a seat and which do not (docs/seats.md). Each test works in a tenant of its own.</summary>
public sealed partial class SeatRuleTests
{
    /// <summary>A tenant with an admin and <paramref name="members"/> enabled members, then given a plan of <paramref name="seats"/>.</summary>
    private static async Task<(TestTenant Tenant, List<Guid> Members)> TenantAsync(int seats, int members)
    {
        var app = await DmsApp.GetAsync();
        var tenant = await app.CreateTenantAsync();
        var ids = new List<Guid>();
        for (var i = 0; i < members; i++)
        {
            ids.Add(await SeatSupport.CreatedIdAsync(tenant));
        }
        await app.GivePlanAsync(tenant, seats: seats);
        return (tenant, ids);
    }

    [Fact]
    public async Task A_create_when_every_seat_is_taken_is_refused_with_a_clear_message_and_stores_nothing()
    {
        var (tenant, _) = await TenantAsync(seats: 2, members: 1);
        var email = SeatSupport.NewEmail("late");

        using var refused = await SeatSupport.CreateAsync(tenant, email);
        var problem = await refused.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "plan.seats_exhausted");
        problem.GetProperty("title").GetString().ShouldBe("All 2 seats of the plan are taken: disable a user or ask for a bigger plan.");
        problem.GetProperty("seats").GetProperty("used").GetInt32().ShouldBe(2);
        problem.GetProperty("seats").GetProperty("limit").GetInt32().ShouldBe(2);

        (await SeatSupport.EnabledInDatabaseAsync(tenant.App, tenant.Id, "true")).ShouldBe(2L, "no row for the refused user");
        (await SeatSupport.EnabledByApiAsync(tenant)).ShouldBe(2);
    }

    [Fact]
    public async Task Disabling_a_user_frees_a_seat_and_re_enabling_one_when_full_is_refused()
    {
        var (tenant, members) = await TenantAsync(seats: 3, members: 2);
        await (await SeatSupport.CreateAsync(tenant)).ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "plan.seats_exhausted");

        await SeatSupport.SetDisabledAsync(tenant, members[0], disabled: true);
        var newcomer = await SeatSupport.CreatedIdAsync(tenant);

        using (var reEnable = await SeatSupport.PatchAsync(tenant, members[0], new { disabled = false }))
        {
            await reEnable.ShouldBeProblemAsync(HttpStatusCode.PaymentRequired, "plan.seats_exhausted");
        }
        (await SeatSupport.EnabledInDatabaseAsync(tenant.App, tenant.Id, $"id = '{members[0]}' AND disabled")).ShouldBe(1L, "the refused re-enable changed nothing");

        await SeatSupport.SetDisabledAsync(tenant, newcomer, disabled: true);
        await SeatSupport.SetDisabledAsync(tenant, members[0], disabled: false);
        (await SeatSupport.EnabledInDatabaseAsync(tenant.App, tenant.Id)).ShouldBe(3L);
    }

    [Fact]
    public async Task Role_and_name_changes_and_re_enabling_an_enabled_user_take_no_seat_when_full()
    {
        var (tenant, members) = await TenantAsync(seats: 2, members: 1);
        var member = members[0];

        using (var role = await SeatSupport.PatchAsync(tenant, member, new { role = "Viewer" }))
        {
            await role.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var name = await SeatSupport.PatchAsync(tenant, member, new { displayName = "Renamed" }))
        {
            await name.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var again = await SeatSupport.PatchAsync(tenant, member, new { disabled = false, role = "Member" }))
        {
            await again.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await again.JsonAsync()).GetProperty("role").GetString().ShouldBe("Member");
        }
        (await SeatSupport.EnabledInDatabaseAsync(tenant.App, tenant.Id)).ShouldBe(2L);
    }

    [Fact]
    public async Task A_tenant_without_a_plan_has_no_seat_limit_and_no_seat_line()
    {
        var app = await DmsApp.GetAsync();
        var tenant = await app.CreateTenantAsync();
        for (var i = 0; i < 3; i++)
        {
            await SeatSupport.CreatedIdAsync(tenant);
        }
        using var ui = await tenant.SignInToUiAsync(tenant.Admin);
        var page = await ui.GetStringAsync("/admin/users");
        page.ShouldNotContain("seats used");
    }

    [Fact]
    public async Task The_users_page_shows_the_seats_used_and_the_refusal_when_full()
    {
        var (tenant, _) = await TenantAsync(seats: 3, members: 1);
        using var ui = await tenant.SignInToUiAsync(tenant.Admin);

        var page = await ui.GetStringAsync("/admin/users");
        Text(page).ShouldContain("2 of 3 seats used");
        page.ShouldNotContain("data-testid=\"seats-full\"");

        using (var created = await ui.PostFormAsync("/admin/users?handler=Create", page, new()
        {
            ["Form.Email"] = SeatSupport.NewEmail("ui"),
            ["Form.Role"] = "Member",
            ["Form.Password"] = SeatSupport.Password,
        }))
        {
            created.StatusCode.ShouldBe(HttpStatusCode.Redirect, await created.Content.ReadAsStringAsync());
        }
        page = await ui.GetStringAsync("/admin/users");
        Text(page).ShouldContain("3 of 3 seats used");
        Text(page).ShouldContain("All 3 seats of the plan are taken: disable a user or ask for a bigger plan.");

        using var refused = await ui.PostFormAsync("/admin/users?handler=Create", page, new()
        {
            ["Form.Email"] = SeatSupport.NewEmail("ui"),
            ["Form.Role"] = "Member",
            ["Form.Password"] = SeatSupport.Password,
        });
        refused.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
        var answer = await refused.Content.ReadAsStringAsync();
        answer.ShouldContain("role=\"alert\"");
        Text(answer).ShouldContain("All 3 seats of the plan are taken: disable a user or ask for a bigger plan.");
        Text(answer).ShouldContain("3 of 3 seats used");
    }

    /// <summary>The page's text with tags dropped and white space folded, as a reader sees it.</summary>
    private static string Text(string html) => Spaces().Replace(System.Net.WebUtility.HtmlDecode(Tags().Replace(html, " ")), " ");

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tags();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
