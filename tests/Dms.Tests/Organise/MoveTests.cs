using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;
using static Dms.Tests.Organise.Organising;

namespace Dms.Tests.Organise;

/// <summary>
/// Moving documents between folders and workspaces (issue 16, item 4): write permission on both sides, the folder must
/// be in the target workspace, a check-out by someone else holds the document in place, and lists and search follow.
/// </summary>
public sealed class MoveTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private static async Task<HttpResponseMessage> MoveAsync(SignedIn who, Guid documentId, object body, string? ifMatch = "*")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/documents/{documentId}/move") { Content = JsonContent.Create(body) };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }
        return await who.Client.SendAsync(request);
    }

    [Fact]
    public async Task A_move_across_workspaces_is_audited_and_lists_and_search_follow_it()
    {
        var source = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var target = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var folder = await FolderAsync(f.Member, target);
        var word = $"zebra{Guid.NewGuid():N}"[..16];
        var documentId = (await UploadAsync(f.Member, source, "moving text", $"Report {word}")).GetProperty("id").GetGuid();
        var etag = await ETagAsync(f.Member, documentId);

        using (var moved = await MoveAsync(f.Member, documentId, new { workspaceId = target, folderId = folder }, etag))
        {
            await moved.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await moved.JsonAsync();
            body.GetProperty("workspaceId").GetGuid().ShouldBe(target);
            body.GetProperty("folderId").GetGuid().ShouldBe(folder);
            moved.Headers.ETag!.Tag.ShouldNotBe(etag, "a move is a change: the old ETag no longer matches");
        }

        (await ListAsync(f.Member, $"workspaceId={source}")).ShouldBeEmpty();
        (await ListAsync(f.Member, $"folderId={folder}")).Select(d => d.GetProperty("id").GetGuid()).ShouldBe([documentId]);
        (await ListAsync(f.Member, $"q={word}&workspaceId={target}")).Select(d => d.GetProperty("id").GetGuid()).ShouldBe([documentId], "search follows the move");
        (await ListAsync(f.Member, $"q={word}&workspaceId={source}")).ShouldBeEmpty();

        var audit = await f.OwnerScalarAsync<string>("SELECT data::text FROM audit_events WHERE entity_id = @id AND action = 'document.moved'",
            ("id", documentId.ToString()));
        audit.ShouldNotBeNull("the move is audited");
        var data = JsonDocument.Parse(audit).RootElement;
        data.GetProperty("from").GetProperty("workspaceId").GetGuid().ShouldBe(source);
        data.GetProperty("from").GetProperty("folderId").ValueKind.ShouldBe(JsonValueKind.Null);
        data.GetProperty("to").GetProperty("workspaceId").GetGuid().ShouldBe(target);
        data.GetProperty("to").GetProperty("folderId").GetGuid().ShouldBe(folder);

        // Back to the target's top level (folderId null) with the stale ETag: refused; with the current one: done.
        await (await MoveAsync(f.Member, documentId, new { workspaceId = target, folderId = (Guid?)null }, etag))
            .ShouldBeProblemAsync(HttpStatusCode.PreconditionFailed, "document.precondition_failed");
        using (var up = await MoveAsync(f.Member, documentId, new { workspaceId = target, folderId = (Guid?)null }, await ETagAsync(f.Member, documentId)))
        {
            await up.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await up.JsonAsync()).GetProperty("folderId").ValueKind.ShouldBe(JsonValueKind.Null);
        }
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE entity_id = @id AND action = 'document.moved'",
            ("id", documentId.ToString()))).ShouldBe(2L);
    }

    [Fact]
    public async Task A_move_needs_write_on_both_sides_a_folder_of_the_target_and_no_one_elses_lock()
    {
        var other = await f.CreateUserAsync("Member");
        var source = await WorkspaceAsync(f, (f.Member, "Contributor"), (other, "Contributor"));
        var readOnly = await WorkspaceAsync(f, (f.Member, "Viewer"));
        var unreadable = await WorkspaceAsync(f);
        var target = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var foreignFolder = await FolderAsync(f.Admin, unreadable);
        var documentId = (await UploadAsync(f.Member, source, "stay put")).GetProperty("id").GetGuid();

        await (await MoveAsync(f.Member, documentId, new { workspaceId = readOnly })).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "workspace.forbidden");
        await (await MoveAsync(f.Member, documentId, new { workspaceId = unreadable })).ShouldBeProblemAsync(HttpStatusCode.NotFound, "workspace.not_found");
        await (await MoveAsync(f.Member, documentId, new { workspaceId = target, folderId = foreignFolder }))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "folder.not_in_workspace");
        await (await MoveAsync(f.Member, documentId, new { workspaceId = target, folderId = Guid.NewGuid() }))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "folder.not_in_workspace");
        await (await MoveAsync(f.Member, documentId, new { workspaceId = target }, ifMatch: null))
            .ShouldBeProblemAsync(HttpStatusCode.PreconditionRequired, "document.precondition_required");
        await (await MoveAsync(f.Member, documentId, new { folderId = (Guid?)null })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await MoveAsync(f.Member, documentId, new { workspaceId = "nope" })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await MoveAsync(f.Member, documentId, new { workspaceId = target, title = "x" })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");

        // No write on the source: a reader of the target who cannot read the source sees no document at all.
        var outsider = await f.CreateUserAsync("Member");
        var outsiders = await WorkspaceAsync(f, (outsider, "Contributor"));
        await (await MoveAsync(outsider, documentId, new { workspaceId = outsiders })).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");

        // Checked out by someone else: it stays where it is.
        (await other.Client.PostAsync($"/api/v1/documents/{documentId}/checkout", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await MoveAsync(f.Member, documentId, new { workspaceId = target })).ShouldBeProblemAsync((HttpStatusCode)423, "document.locked");
        (await other.Client.PostAsync($"/api/v1/documents/{documentId}/checkin", null)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await ListAsync(f.Member, $"workspaceId={source}")).Select(d => d.GetProperty("id").GetGuid()).ShouldBe([documentId], "every refusal left it in place");
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE entity_id = @id AND action = 'document.moved'",
            ("id", documentId.ToString()))).ShouldBe(0L);

        using var moved = await MoveAsync(f.Member, documentId, new { workspaceId = target });
        await moved.ShouldHaveStatusAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task The_bulk_move_action_moves_as_the_requester_and_skips_what_is_already_there()
    {
        var source = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var target = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var readOnly = await WorkspaceAsync(f, (f.Member, "Viewer"));
        var documentId = (await UploadAsync(f.Member, source, "bulk moved")).GetProperty("id").GetGuid();
        using var scope = f.Tenant.App.Service<IServiceProvider>().CreateScope();
        var action = scope.ServiceProvider.GetServices<Dms.Modules.Documents.Bulk.IBulkAction>().Single(a => a.Name == "move");
        var member = new Dms.Platform.Security.CurrentUser(f.Member.UserId, f.TenantId, "Member", f.Member.Email);
        var parameters = JsonDocument.Parse($$"""{"workspaceId":"{{target}}","folderId":null}""").RootElement;

        Should.Throw<Dms.Platform.Http.ApiProblem>(() => action.Validate(JsonDocument.Parse("""{"folderId":null}""").RootElement)).Code.ShouldBe("validation.failed");
        (await action.ApplyAsync(member, documentId, parameters, CancellationToken.None)).Outcome.ShouldBe(Dms.Modules.Documents.Bulk.BulkItemOutcome.Done);
        (await action.ApplyAsync(member, documentId, parameters, CancellationToken.None)).Outcome.ShouldBe(Dms.Modules.Documents.Bulk.BulkItemOutcome.Skipped);
        var refused = await Should.ThrowAsync<Dms.Platform.Http.ApiProblem>(() => action.ApplyAsync(member, documentId,
            JsonDocument.Parse($$"""{"workspaceId":"{{readOnly}}"}""").RootElement, CancellationToken.None));
        refused.Code.ShouldBe("workspace.forbidden");
        (await ListAsync(f.Member, $"workspaceId={target}")).Select(d => d.GetProperty("id").GetGuid()).ShouldBe([documentId]);
    }

    [Fact]
    public async Task A_workspace_policy_cannot_make_moves_wait_for_approval_yet()
    {
        var workspace = await WorkspaceAsync(f);
        using var put = await f.Admin.Client.PutAsJsonAsync($"/api/v1/workspaces/{workspace}/policy",
            new { operations = new { move = new { mode = "approval", stages = new[] { new { name = "Admins", approvers = new { roles = new[] { "Admin" } }, quorum = 1 } } } } });
        await put.ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
    }
}
