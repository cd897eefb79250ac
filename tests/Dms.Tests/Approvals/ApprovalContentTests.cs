using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Approvals;

/// <summary>GET /approvals/{id}/content: the staged file of a replace request, for the decider and the requester only.</summary>
public sealed class ApprovalContentTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    [Fact]
    public async Task Admins_and_the_requester_download_the_proposed_file_as_an_audited_attachment()
    {
        var documentId = await f.UploadAsync(f.Member, "current text");
        var approvalId = (await f.RequestReplaceAsync(f.Member, documentId, "proposed text")).GetProperty("id").GetGuid();

        foreach (var who in new[] { f.Admin, f.Member })
        {
            using var streamed = await who.Client.GetAsync($"/api/v1/approvals/{approvalId}/content?redirect=false");
            await streamed.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await streamed.Content.ReadAsStringAsync()).ShouldBe("proposed text");
            streamed.Content.Headers.ContentDisposition!.DispositionType.ShouldBe("attachment");
            streamed.Content.Headers.ContentDisposition.FileNameStar.ShouldBe("doc.txt");
        }

        using var redirected = await f.SecondAdmin.Client.GetAsync($"/api/v1/approvals/{approvalId}/content");
        await redirected.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await redirected.Content.ReadAsStringAsync()).ShouldBe("proposed text");

        // The current version is still the old one: nothing was applied by looking.
        using var current = await f.Member.Client.GetAsync($"/api/v1/documents/{documentId}/content?redirect=false");
        (await current.Content.ReadAsStringAsync()).ShouldBe("current text");

        using var audit = await f.Admin.Client.GetAsync($"/api/v1/audit?action=approval.content_downloaded&entityId={approvalId}");
        await audit.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await audit.JsonAsync()).GetProperty("items").GetArrayLength().ShouldBe(3);
    }

    [Fact]
    public async Task Other_members_other_tenants_and_unknown_ids_get_the_same_404()
    {
        var documentId = await f.UploadAsync(f.Member, "current");
        var approvalId = (await f.RequestReplaceAsync(f.Member, documentId, "proposed")).GetProperty("id").GetGuid();
        var otherMember = await f.Tenant.CreateUserAsync("Member");
        var otherTenant = await f.Tenant.App.CreateTenantAsync();

        foreach (var (client, url) in new[]
        {
            (otherMember.Client, $"/api/v1/approvals/{approvalId}/content"),
            (otherTenant.Admin.Client, $"/api/v1/approvals/{approvalId}/content"),
            (f.Admin.Client, $"/api/v1/approvals/{Guid.NewGuid()}/content"),
        })
        {
            using var response = await client.GetAsync(url);
            await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "approval.not_found");
        }
        using var bad = await f.Admin.Client.GetAsync("/api/v1/approvals/nope/content");
        await bad.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "request.invalid_id");
    }

    [Fact]
    public async Task A_delete_request_or_a_request_whose_staged_file_is_gone_has_no_content()
    {
        var deleteDoc = await f.UploadAsync(f.Member, "to delete");
        var deleteId = (await f.RequestDeleteAsync(f.Member, deleteDoc)).GetProperty("id").GetGuid();
        using var delete = await f.Admin.Client.GetAsync($"/api/v1/approvals/{deleteId}/content");
        await delete.ShouldBeProblemAsync(HttpStatusCode.NotFound, "approval.content_not_found");

        var replaceDoc = await f.UploadAsync(f.Member, "to replace");
        var replaceId = (await f.RequestReplaceAsync(f.Member, replaceDoc, "rejected text")).GetProperty("id").GetGuid();
        using (var reject = await f.SecondAdmin.Client.PostAsJsonAsync($"/api/v1/approvals/{replaceId}/reject", new { reason = "no" }))
        {
            await reject.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        // The rejection discards the staged file through the outbox, a moment later.
        HttpStatusCode status = HttpStatusCode.OK;
        for (var i = 0; i < 200 && status != HttpStatusCode.NotFound; i++)
        {
            using var response = await f.Admin.Client.GetAsync($"/api/v1/approvals/{replaceId}/content?redirect=false");
            status = response.StatusCode;
            if (status == HttpStatusCode.NotFound)
            {
                await response.ShouldBeProblemAsync(HttpStatusCode.NotFound, "approval.content_not_found");
            }
            else
            {
                await Task.Delay(50);
            }
        }
        status.ShouldBe(HttpStatusCode.NotFound);
    }
}
