using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Modules.Approvals.Retention;
using Dms.Platform.Storage;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>
/// Approval policies per workspace (issue 13): quorum, stages, snapshots, direct operations, delegation, groups,
/// reminders and escalation, and the guidance when nobody could decide. Each test works in a workspace of its own.
/// </summary>
public sealed class PolicyTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private async Task<Guid> WorkspaceAsync(params SignedIn[] contributors)
    {
        using var created = await f.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Policy {Guid.NewGuid():N}" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var id = (await created.JsonAsync()).GetProperty("id").GetGuid();
        foreach (var who in contributors)
        {
            using var added = await f.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{id}/members", new { userId = who.UserId, role = "Contributor" });
            await added.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        return id;
    }

    private static async Task<JsonElement> SetPolicyAsync(SignedIn who, Guid workspace, object policy)
    {
        using var response = await who.Client.PutAsJsonAsync($"/api/v1/workspaces/{workspace}/policy", policy);
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    private static object Approval(params object[] stages) => new { mode = "approval", stages };

    private static object Stage(string name, object approvers, int quorum = 1) => new { name, approvers, quorum };

    private static async Task<Guid> UploadAsync(SignedIn who, Guid workspace, string text = "version one")
    {
        using var response = await who.Client.PostAsync("/api/v1/documents", Uploads.Form("doc.txt", Uploads.Text(text), $"Doc {Guid.NewGuid():N}", workspaceId: workspace));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private async Task<Guid> GroupAsync(params SignedIn[] members)
    {
        using var created = await f.Admin.Client.PostAsJsonAsync("/api/v1/groups", new { name = $"Group {Guid.NewGuid():N}" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var id = (await created.JsonAsync()).GetProperty("id").GetGuid();
        foreach (var member in members)
        {
            using var added = await f.Admin.Client.PostAsJsonAsync($"/api/v1/groups/{id}/members", new { userId = member.UserId });
            await added.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        return id;
    }

    [Fact]
    public async Task Two_of_five_approve_once_whatever_the_concurrency_and_the_request_executes_once()
    {
        var approvers = new List<SignedIn>();
        for (var i = 0; i < 5; i++)
        {
            approvers.Add(await f.Tenant.CreateUserAsync("Member"));
        }
        var workspace = await WorkspaceAsync(f.Member);
        await SetPolicyAsync(f.Admin, workspace, new
        {
            operations = new { delete = Approval(Stage("Reviewers", new { users = approvers.Select(a => a.UserId) }, quorum: 2)) },
        });
        var documentId = await UploadAsync(f.Member, workspace);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();

        using var start = new SemaphoreSlim(0);
        var calls = Enumerable.Range(0, 300).Select(async i =>
        {
            await start.WaitAsync();
            using var response = await ApprovalFixture.ApproveAsync(approvers[i % approvers.Count], approvalId, $"vote {i}");
            return (response.StatusCode, Code: response.IsSuccessStatusCode ? null : (await response.JsonAsync()).GetProperty("code").GetString());
        }).ToList();
        start.Release(300);
        var answers = await Task.WhenAll(calls);

        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBe(2, "exactly the quorum counts");
        answers.Where(a => a.StatusCode != HttpStatusCode.OK).Select(a => a.Code).Distinct().ShouldBeSubsetOf(["approval.not_pending", "approval.already_voted"]);
        answers.Where(a => a.StatusCode != HttpStatusCode.OK).Select(a => a.StatusCode).Distinct().ShouldBe([HttpStatusCode.Conflict]);

        var done = await f.WaitForStatusAsync(approvalId, "Executed");
        done.GetProperty("votes").GetArrayLength().ShouldBe(2);
        done.GetProperty("votes").EnumerateArray().Select(v => v.GetProperty("userId").GetGuid()).Distinct().Count().ShouldBe(2);
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE entity_id = @id AND action = 'approval.executed'",
            ("id", approvalId.ToString()))).ShouldBe(1L);
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM outbox_messages WHERE type = 'approval.execute' AND payload ->> 'approvalId' = @id",
            ("id", approvalId.ToString()))).ShouldBe(1L);
    }

    [Fact]
    public async Task Stage_two_waits_for_stage_one_and_a_rejection_there_ends_the_request_and_removes_the_staged_file()
    {
        var compliance = await f.Tenant.CreateUserAsync("Member");
        var workspace = await WorkspaceAsync(f.Member);
        var policy = await SetPolicyAsync(f.Admin, workspace, new
        {
            operations = new
            {
                replace = Approval(Stage("Admins", new { roles = new[] { "Admin" } }), Stage("Compliance", new { users = new[] { compliance.UserId } })),
            },
        });
        policy.GetProperty("isDefault").GetBoolean().ShouldBeFalse();
        policy.GetProperty("operations").GetProperty("delete").GetProperty("mode").GetString().ShouldBe("approval", "operations left out keep the default");

        var documentId = await UploadAsync(f.Member, workspace);
        var request = await f.RequestReplaceAsync(f.Member, documentId, "second version");
        var approvalId = request.GetProperty("id").GetGuid();
        request.GetProperty("stage").GetProperty("index").GetInt32().ShouldBe(0);
        request.GetProperty("stage").GetProperty("count").GetInt32().ShouldBe(2);

        await (await ApprovalFixture.ApproveAsync(compliance, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.stage_not_reached");
        using (var early = await compliance.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/reject", new { reason = "too early" }))
        {
            await early.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.stage_not_reached");
        }
        using (var first = await ApprovalFixture.ApproveAsync(f.SecondAdmin, approvalId, "fine by IT"))
        {
            await first.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await first.JsonAsync();
            body.GetProperty("status").GetString().ShouldBe("Pending");
            body.GetProperty("stage").GetProperty("index").GetInt32().ShouldBe(1);
            body.GetProperty("stage").GetProperty("name").GetString().ShouldBe("Compliance");
        }
        // One person counts once per request: the admin who passed stage 1 is not asked again.
        await (await ApprovalFixture.ApproveAsync(f.SecondAdmin, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.already_voted");

        var details = await (await compliance.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
        details.GetProperty("eligibleApprovers").EnumerateArray().Select(e => e.GetProperty("userId").GetGuid()).ShouldBe([compliance.UserId]);
        using (var rejected = await compliance.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/reject", new { reason = "retention rules" }))
        {
            await rejected.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await rejected.JsonAsync()).GetProperty("status").GetString().ShouldBe("Rejected");
        }
        var document = await (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("status").GetString().ShouldBe("Active");
        document.GetProperty("currentVersion").GetProperty("number").GetInt32().ShouldBe(1);

        var store = f.Tenant.App.Service<IBlobStore>();
        var prefix = BlobKeys.TenantPrefix(f.Tenant.Id) + documentId.ToString("N");
        for (var i = 0; i < 200 && await CountBlobsAsync(store, prefix) > 1; i++)
        {
            await Task.Delay(50);
        }
        (await CountBlobsAsync(store, prefix)).ShouldBe(1, "the rejected replacement's staged file is removed");
    }

    [Fact]
    public async Task Editing_the_policy_does_not_change_an_open_request()
    {
        var workspace = await WorkspaceAsync(f.Member);
        var documentId = await UploadAsync(f.Member, workspace);
        var approvalId = (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("id").GetGuid();
        var extra = await f.Tenant.CreateUserAsync("Member");
        await SetPolicyAsync(f.Admin, workspace, new
        {
            operations = new { delete = Approval(Stage("Admins", new { roles = new[] { "Admin" } }), Stage("Extra", new { users = new[] { extra.UserId } })) },
        });

        var open = await (await f.Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
        open.GetProperty("policy").GetProperty("stages").GetArrayLength().ShouldBe(1);
        using var approved = await ApprovalFixture.ApproveAsync(f.SecondAdmin, approvalId);
        await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await approved.JsonAsync()).GetProperty("status").GetString().ShouldBeOneOf("Approved", "Executed");
        await f.WaitForStatusAsync(approvalId, "Executed");

        // A request made now takes the new policy.
        var later = await UploadAsync(f.Member, workspace);
        var next = await f.RequestDeleteAsync(f.Member, later);
        next.GetProperty("stage").GetProperty("count").GetInt32().ShouldBe(2);
    }

    [Fact]
    public async Task A_direct_workspace_deletes_and_replaces_at_once_audited_while_a_four_eyes_workspace_still_asks()
    {
        var direct = await WorkspaceAsync(f.Member);
        await SetPolicyAsync(f.Admin, direct, new { operations = new { delete = new { mode = "direct" }, replace = new { mode = "direct" } } });
        var fourEyes = await WorkspaceAsync(f.Member);

        var toDelete = await UploadAsync(f.Member, direct);
        var deleted = await f.RequestDeleteAsync(f.Member, toDelete);
        deleted.GetProperty("status").GetString().ShouldBe("Executed");
        deleted.GetProperty("mode").GetString().ShouldBe("direct");
        (await f.Member.Client.GetAsync($"/api/v1/documents/{toDelete}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var trash = await (await f.Admin.Client.GetAsync("/api/v1/trash?limit=100")).JsonAsync();
        trash.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ShouldContain(toDelete);
        using (var restored = await f.Admin.Client.PostAsync($"/api/v1/documents/{toDelete}/restore", null))
        {
            await restored.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }

        var toReplace = await UploadAsync(f.Member, direct);
        var replaced = await f.RequestReplaceAsync(f.Member, toReplace, "version two at once");
        replaced.GetProperty("status").GetString().ShouldBe("Executed");
        var document = await (await f.Member.Client.GetAsync($"/api/v1/documents/{toReplace}")).JsonAsync();
        document.GetProperty("currentVersion").GetProperty("number").GetInt32().ShouldBe(2);
        using (var content = await f.Member.Client.GetAsync($"/api/v1/documents/{toReplace}/content?redirect=false"))
        {
            (await content.Content.ReadAsStringAsync()).ShouldBe("version two at once");
        }
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action = 'approval.executed' AND entity_id = ANY(@ids)",
            ("ids", new[] { deleted.GetProperty("id").GetGuid().ToString(), replaced.GetProperty("id").GetGuid().ToString() }))).ShouldBe(2L);

        var asked = await f.RequestDeleteAsync(f.Member, await UploadAsync(f.Member, fourEyes));
        asked.GetProperty("status").GetString().ShouldBe("Pending");
        asked.GetProperty("mode").GetString().ShouldBe("approval");
    }

    [Fact]
    public async Task Restoring_and_lifting_a_legal_hold_wait_for_approval_where_the_policy_says_so()
    {
        var workspace = await WorkspaceAsync(f.Member);
        var admins = Approval(Stage("Admins", new { roles = new[] { "Admin" } }));
        await SetPolicyAsync(f.Admin, workspace, new { operations = new { delete = new { mode = "direct" }, restore = admins, legalHoldLift = admins } });
        var documentId = await UploadAsync(f.Member, workspace);
        (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("status").GetString().ShouldBe("Executed");

        using (var asked = await f.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/restore", new { reason = "Deleted by mistake" }))
        {
            await asked.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
            var request = await asked.JsonAsync();
            request.GetProperty("type").GetString().ShouldBe("Restore");
            request.GetProperty("status").GetString().ShouldBe("Pending");
            (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).StatusCode.ShouldBe(HttpStatusCode.NotFound, "still in the trash until approved");
            await (await ApprovalFixture.ApproveAsync(f.Admin, request.GetProperty("id").GetGuid())).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.self_decision");
            await (await ApprovalFixture.ApproveAsync(f.SecondAdmin, request.GetProperty("id").GetGuid())).ShouldHaveStatusAsync(HttpStatusCode.OK);
            await f.WaitForStatusAsync(request.GetProperty("id").GetGuid(), "Executed");
        }
        (await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Placing a hold is always at once; lifting it waits for the approval, and a rejection keeps it.
        using (var placed = await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = true, reason = "Litigation" }))
        {
            await placed.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        Guid lift;
        using (var asked = await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = false }))
        {
            await asked.ShouldHaveStatusAsync(HttpStatusCode.Accepted);
            lift = (await asked.JsonAsync()).GetProperty("id").GetGuid();
        }
        using (var rejected = await f.SecondAdmin.Client.PostAsJsonAsync($"/api/v1/approvals/{lift}/reject", new { reason = "Case still open" }))
        {
            await rejected.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var held = await f.Member.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "try" }))
        {
            await held.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document.legal_hold");
        }
        using (var again = await f.Admin.Client.PutAsJsonAsync($"/api/v1/documents/{documentId}/legal-hold", new { enabled = false, reason = "Case closed" }))
        {
            lift = (await again.JsonAsync()).GetProperty("id").GetGuid();
        }
        await (await ApprovalFixture.ApproveAsync(f.SecondAdmin, lift)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(lift, "Executed");
        (await f.RequestDeleteAsync(f.Member, documentId)).GetProperty("status").GetString().ShouldBe("Executed", "the hold is gone");
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action IN ('document.restored', 'document.legal_hold_released') AND entity_id = @id",
            ("id", documentId.ToString()))).ShouldBe(2L);
    }

    [Fact]
    public async Task A_delegate_decides_only_inside_the_period_and_in_the_approvers_name()
    {
        var approver = await f.Tenant.CreateUserAsync("Member");
        var stand = await f.Tenant.CreateUserAsync("Member");
        var workspace = await WorkspaceAsync(f.Member);
        await SetPolicyAsync(f.Admin, workspace, new { operations = new { delete = Approval(Stage("Owner", new { users = new[] { approver.UserId } })) } });

        // Outside the period (it starts tomorrow): the delegate is nobody here.
        using (var later = await approver.Client.PostAsJsonAsync("/api/v1/me/delegation",
            new { delegateUserId = stand.UserId, from = DateTime.UtcNow.AddDays(1), until = DateTime.UtcNow.AddDays(2) }))
        {
            await later.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await later.JsonAsync()).GetProperty("active").GetBoolean().ShouldBeFalse();
        }
        var first = (await f.RequestDeleteAsync(f.Member, await UploadAsync(f.Member, workspace))).GetProperty("id").GetGuid();
        (await stand.Client.GetAsync($"/api/v1/approvals/{first}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await ApprovalFixture.ApproveAsync(stand, first)).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        // Inside the period: the delegate sees it waiting for them and approves in the approver's name.
        using (var now = await approver.Client.PostAsJsonAsync("/api/v1/me/delegation", new { delegateUserId = stand.UserId, until = DateTime.UtcNow.AddDays(1) }))
        {
            await now.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        var waiting = await (await stand.Client.GetAsync("/api/v1/approvals?awaitingMe=true")).JsonAsync();
        waiting.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).ShouldContain(first);
        using (var approved = await ApprovalFixture.ApproveAsync(stand, first, "approved while away"))
        {
            await approved.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var vote = (await approved.JsonAsync()).GetProperty("votes").EnumerateArray().ShouldHaveSingleItem();
            vote.GetProperty("userId").GetGuid().ShouldBe(stand.UserId);
            vote.GetProperty("onBehalfOf").GetGuid().ShouldBe(approver.UserId);
        }
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE entity_id = @id AND action = 'approval.vote' AND data ->> 'onBehalfOf' = @who",
            ("id", first.ToString()), ("who", approver.UserId.ToString()))).ShouldBe(1L);
        // The approver's own vote would be a second one in their name.
        (await ApprovalFixture.ApproveAsync(approver, first)).StatusCode.ShouldBe(HttpStatusCode.Conflict);

        using (var ended = await approver.Client.DeleteAsync("/api/v1/me/delegation"))
        {
            await ended.ShouldHaveStatusAsync(HttpStatusCode.NoContent);
        }
        var second = (await f.RequestDeleteAsync(f.Member, await UploadAsync(f.Member, workspace))).GetProperty("id").GetGuid();
        (await ApprovalFixture.ApproveAsync(stand, second)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task One_person_counts_once_through_two_groups_and_nobody_approves_their_own_request_through_a_group_or_a_delegation()
    {
        var both = await f.Tenant.CreateUserAsync("Member");
        var other = await f.Tenant.CreateUserAsync("Member");
        var requester = await f.Tenant.CreateUserAsync("Member");
        var legal = await GroupAsync(both, requester);
        var finance = await GroupAsync(both, other);
        var workspace = await WorkspaceAsync(requester, f.Member);
        await SetPolicyAsync(f.Admin, workspace, new { operations = new { delete = Approval(Stage("Legal and finance", new { groups = new[] { legal, finance } }, quorum: 2)) } });

        var approvalId = (await f.RequestDeleteAsync(requester, await UploadAsync(requester, workspace))).GetProperty("id").GetGuid();
        var details = await (await f.Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync();
        details.GetProperty("eligibleApprovers").EnumerateArray().Select(e => e.GetProperty("userId").GetGuid())
            .ShouldBe([both.UserId, other.UserId], ignoreOrder: true, "listed once though in two groups, and never the requester");

        await (await ApprovalFixture.ApproveAsync(requester, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.self_decision");
        await (await ApprovalFixture.ApproveAsync(both, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await (await ApprovalFixture.ApproveAsync(both, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.already_voted");
        (await (await f.Admin.Client.GetAsync($"/api/v1/approvals/{approvalId}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("Pending");

        // The other approver delegates to the requester: the requester still cannot approve their own request.
        using (var delegated = await other.Client.PostAsJsonAsync("/api/v1/me/delegation", new { delegateUserId = requester.UserId, until = DateTime.UtcNow.AddDays(1) }))
        {
            await delegated.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        await (await ApprovalFixture.ApproveAsync(requester, approvalId)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "approval.self_decision");
        await (await ApprovalFixture.ApproveAsync(other, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
    }

    [Fact]
    public async Task A_request_nobody_could_decide_is_refused_with_guidance()
    {
        var alone = await f.Tenant.App.CreateTenantAsync();
        using var upload = await alone.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("typo.txt", Uploads.Text("typo"), "Typo'd upload"));
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        using var refused = await alone.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "typo" });
        var problem = await refused.ShouldBeProblemAsync(HttpStatusCode.Conflict, "approval.no_eligible_approvers");
        problem.GetProperty("detail").GetString()!.ShouldContain("change the workspace's policy");
        (await (await alone.Admin.Client.GetAsync("/api/v1/approvals")).JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(0, "no request nobody can decide");
        var document = await (await alone.Admin.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("status").GetString().ShouldBe("Active");

        // The way out: the admin makes deletes direct in that workspace.
        await SetPolicyAsync(alone.Admin, alone.DefaultWorkspaceId, new { operations = new { delete = new { mode = "direct" } } });
        using var done = await alone.Admin.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "typo" });
        await done.ShouldHaveStatusAsync(HttpStatusCode.Created);
        (await done.JsonAsync()).GetProperty("status").GetString().ShouldBe("Executed");
    }

    [Fact]
    public async Task Policies_are_validated_and_only_admins_and_the_workspaces_managers_change_them()
    {
        var workspace = await WorkspaceAsync();
        async Task BadAsync(object body, HttpStatusCode status, string code)
        {
            using var response = await f.Admin.Client.PutAsJsonAsync($"/api/v1/workspaces/{workspace}/policy", body);
            await response.ShouldBeProblemAsync(status, code);
        }
        await BadAsync(new { operations = new { delete = new { mode = "sometimes" } } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { operations = new { delete = Approval() } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { operations = new { delete = Approval(Stage("Nobody", new { })) } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { operations = new { delete = Approval(Stage("Zero", new { roles = new[] { "Admin" } }, quorum: 0)) } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { operations = new { archive = new { mode = "direct" } } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { operations = new { move = Approval(Stage("Admins", new { roles = new[] { "Admin" } })) } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { expiresAfter = "two weeks" }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { remindAt = new[] { 1.5 } }, HttpStatusCode.BadRequest, "validation.failed");
        await BadAsync(new { operations = new { delete = Approval(Stage("Ghost", new { users = new[] { Guid.NewGuid() } })) } },
            HttpStatusCode.UnprocessableEntity, "policy.unknown_approver");
        var other = await f.Tenant.App.CreateTenantAsync();
        var stranger = (await (await other.Admin.Client.GetAsync("/api/v1/me")).JsonAsync()).GetProperty("id").GetGuid();
        await BadAsync(new { operations = new { delete = Approval(Stage("Foreign", new { users = new[] { stranger } })) } },
            HttpStatusCode.UnprocessableEntity, "policy.unknown_approver");
        (await (await f.Admin.Client.GetAsync($"/api/v1/workspaces/{workspace}/policy")).JsonAsync()).GetProperty("isDefault").GetBoolean().ShouldBeTrue();

        var manager = await f.Tenant.CreateUserAsync("Member");
        using (var made = await f.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{workspace}/members", new { userId = manager.UserId, role = "Manager" }))
        {
            await made.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var contributor = await f.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{workspace}/members", new { userId = f.Member.UserId, role = "Contributor" }))
        {
            await contributor.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using (var denied = await f.Member.Client.PutAsJsonAsync($"/api/v1/workspaces/{workspace}/policy", new { expiresAfter = "P7D" }))
        {
            await denied.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "policy.forbidden");
        }
        (await other.Admin.Client.GetAsync($"/api/v1/workspaces/{workspace}/policy")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        using var saved = await manager.Client.PutAsJsonAsync($"/api/v1/workspaces/{workspace}/policy", new
        {
            operations = new { delete = Approval(Stage("Managers", new { workspaceManagers = true })) },
            expiresAfter = "P7D",
        });
        await saved.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var etag = saved.Headers.ETag!.Tag;
        using (var stale = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/workspaces/{workspace}/policy") { Content = JsonContent.Create(new { expiresAfter = "P3D" }) })
        {
            stale.Headers.TryAddWithoutValidation("If-Match", "\"0\"");
            await (await f.Admin.Client.SendAsync(stale)).ShouldBeProblemAsync(HttpStatusCode.PreconditionFailed, "policy.changed");
        }
        // PUT replaces the whole policy (what it leaves out is the default), so the managers' stage is sent again.
        var managersOnly = new { operations = new { delete = Approval(Stage("Managers", new { workspaceManagers = true })) }, expiresAfter = "P3D" };
        using (var fresh = new HttpRequestMessage(HttpMethod.Put, $"/api/v1/workspaces/{workspace}/policy") { Content = JsonContent.Create(managersOnly) })
        {
            fresh.Headers.TryAddWithoutValidation("If-Match", etag);
            await (await f.Admin.Client.SendAsync(fresh)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE action = 'policy.updated' AND entity_id = @id", ("id", workspace.ToString())))
            .ShouldBe(2L);

        // The managers' stage: a manager's vote counts, a contributor's does not.
        var approvalId = (await f.RequestDeleteAsync(f.Member, await UploadAsync(f.Member, workspace))).GetProperty("id").GetGuid();
        (await ApprovalFixture.ApproveAsync(f.SecondAdmin, approvalId)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        await (await ApprovalFixture.ApproveAsync(manager, approvalId)).ShouldHaveStatusAsync(HttpStatusCode.OK);
        await f.WaitForStatusAsync(approvalId, "Executed");
    }

    private static async Task<int> CountBlobsAsync(IBlobStore store, string prefix)
    {
        var count = 0;
        await foreach (var _ in store.ListAsync(prefix, CancellationToken.None))
        {
            count++;
        }
        return count;
    }
}

/// <summary>The app's clock, moved by tests (reminders and escalation are due at times measured in days).</summary>
internal sealed class ManualClock : TimeProvider
{
    public TimeSpan Offset { get; set; }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
}

/// <summary>Reminders and escalation, on an app of its own whose clock the test moves.</summary>
public sealed class PolicyTimingTests
{
    [Fact]
    public async Task Reminders_come_at_half_and_ninety_percent_and_escalation_lets_the_fallback_group_decide()
    {
        var clock = new ManualClock();
        await using var app = await DmsApp.CreateIsolatedAsync("policy_clock",
            new Dictionary<string, string> { ["Dms:Retention:PurgeInterval"] = "1.00:00:00", ["Dms:Previews:Enabled"] = "false" },
            services => services.AddSingleton<TimeProvider>(clock));
        var tenant = await app.CreateTenantAsync();
        var approver = await tenant.CreateUserAsync("Member");
        var fallback = await tenant.CreateUserAsync("Member");
        var requester = await tenant.CreateUserAsync("Member");
        using var group = await tenant.Admin.Client.PostAsJsonAsync("/api/v1/groups", new { name = "Fallback" });
        var groupId = (await group.JsonAsync()).GetProperty("id").GetGuid();
        (await tenant.Admin.Client.PostAsJsonAsync($"/api/v1/groups/{groupId}/members", new { userId = fallback.UserId })).EnsureSuccessStatusCode();
        using (var policy = await tenant.Admin.Client.PutAsJsonAsync($"/api/v1/workspaces/{tenant.DefaultWorkspaceId}/policy", new
        {
            operations = new { delete = new { mode = "approval", stages = new[] { new { name = "Owner", approvers = new { users = new[] { approver.UserId } }, quorum = 1 } } } },
            expiresAfter = "P10D",
            remindAt = new[] { 0.5, 0.9 },
            escalation = new { after = "P3D", approvers = new { groups = new[] { groupId } } },
        }))
        {
            await policy.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        using var upload = await requester.Client.PostAsync("/api/v1/documents", Uploads.Form("t.txt", Uploads.Text("t"), "Timed"));
        var documentId = (await upload.JsonAsync()).GetProperty("id").GetGuid();
        using var requested = await requester.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/delete-requests", new { reason = "timing" });
        await requested.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var approvalId = (await requested.JsonAsync()).GetProperty("id").GetGuid();
        var jobs = app.Service<RetentionJobs>();

        async Task<RetentionReport> RunAtAsync(TimeSpan after)
        {
            clock.Offset = after;
            try
            {
                for (var i = 0; ; i++)
                {
                    var report = await jobs.RunOnceAsync(CancellationToken.None);
                    if (!report.Skipped || i > 100)
                    {
                        return report;
                    }
                    await Task.Delay(50);
                }
            }
            finally
            {
                clock.Offset = TimeSpan.Zero; // HTTP calls (tokens) run on the real time again
            }
        }

        // Before escalation the fallback approver may not decide.
        (await fallback.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { })).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        var day2 = await RunAtAsync(TimeSpan.FromDays(2));
        (day2.Reminded, day2.Escalated).ShouldBe((0, 0));
        var day3 = await RunAtAsync(TimeSpan.FromDays(3) + TimeSpan.FromMinutes(1));
        (day3.Reminded, day3.Escalated).ShouldBe((0, 1));
        var day5 = await RunAtAsync(TimeSpan.FromDays(5) + TimeSpan.FromMinutes(1));
        (day5.Reminded, day5.Escalated).ShouldBe((1, 0));
        var day6 = await RunAtAsync(TimeSpan.FromDays(6));
        (day6.Reminded, day6.Escalated).ShouldBe((0, 0), "nothing new is due until 90 %");
        var day9 = await RunAtAsync(TimeSpan.FromDays(9) + TimeSpan.FromMinutes(1));
        (day9.Reminded, day9.Escalated).ShouldBe((1, 0));

        async Task<int> CountAsync(SignedIn who, string kind)
        {
            for (var i = 0; ; i++)
            {
                var page = await (await who.Client.GetAsync("/api/v1/notifications?limit=200")).JsonAsync();
                var count = page.GetProperty("items").EnumerateArray().Count(n => n.GetProperty("kind").GetString() == kind && n.GetProperty("approvalId").GetGuid() == approvalId);
                if (count > 0 || i > 100)
                {
                    return count;
                }
                await Task.Delay(50);
            }
        }
        (await CountAsync(fallback, "approval.requested")).ShouldBe(1, "the fallback group is told when the request escalates");
        for (var i = 0; i < 100 && (await CountAsync(approver, "approval.reminder") < 2 || await CountAsync(fallback, "approval.reminder") < 2); i++)
        {
            await Task.Delay(50);
        }
        (await CountAsync(approver, "approval.reminder")).ShouldBe(2);
        (await CountAsync(fallback, "approval.reminder")).ShouldBe(2, "escalated on day 3, the fallback approver is waited for at both reminders");

        using var decided = await fallback.Client.PostAsJsonAsync($"/api/v1/approvals/{approvalId}/approve", new { comment = "escalated" });
        await decided.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var vote = (await decided.JsonAsync()).GetProperty("votes").EnumerateArray().ShouldHaveSingleItem();
        vote.GetProperty("escalation").GetBoolean().ShouldBeTrue();

        // Past the expiry nothing is reminded and an open request expires.
        var expiring = await tenant.Admin.Client.PostAsync("/api/v1/documents", Uploads.Form("e.txt", Uploads.Text("e"), "Expiring"));
        var expiringId = (await expiring.JsonAsync()).GetProperty("id").GetGuid();
        using var second = await requester.Client.PostAsJsonAsync($"/api/v1/documents/{expiringId}/delete-requests", new { reason = "expiry" });
        var secondId = (await second.JsonAsync()).GetProperty("id").GetGuid();
        var day11 = await RunAtAsync(TimeSpan.FromDays(10) + TimeSpan.FromMinutes(5));
        day11.RequestsExpired.ShouldBeGreaterThanOrEqualTo(1);
        (await (await requester.Client.GetAsync($"/api/v1/approvals/{secondId}")).JsonAsync()).GetProperty("status").GetString().ShouldBe("Expired");
    }
}
