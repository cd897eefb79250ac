using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Collaboration;

/// <summary>
/// Comments on a document (issue 16, item 6): readers read and post, authors edit and delete their own, admins delete
/// any; a mention tells a mentioned reader and nobody who cannot read the document; nothing crosses tenants.
/// </summary>
public sealed class CommentTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    /// <summary>A workspace of the test's own, the member contributing and <paramref name="readers"/> as viewers.</summary>
    private async Task<Guid> WorkspaceAsync(params SignedIn[] readers)
    {
        using var created = await f.Admin.Client.PostAsJsonAsync("/api/v1/workspaces", new { name = $"Comments {Guid.NewGuid():N}" });
        await created.ShouldHaveStatusAsync(HttpStatusCode.Created);
        var id = (await created.JsonAsync()).GetProperty("id").GetGuid();
        foreach (var (who, role) in readers.Select(r => (r, "Viewer")).Prepend((f.Member, "Contributor")))
        {
            using var added = await f.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{id}/members", new { userId = who.UserId, role });
            await added.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        return id;
    }

    private async Task<Guid> UploadAsync(Guid workspace)
    {
        using var response = await f.Member.Client.PostAsync("/api/v1/documents", Uploads.Form("c.txt", Uploads.Text("text"), $"Doc {Guid.NewGuid():N}", workspaceId: workspace));
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    private static Task<HttpResponseMessage> PostAsync(SignedIn who, Guid documentId, object body) =>
        who.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/comments", body);

    private static async Task<JsonElement> CommentAsync(SignedIn who, Guid documentId, string text)
    {
        using var response = await PostAsync(who, documentId, new { text });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return await response.JsonAsync();
    }

    private static async Task<List<JsonElement>> ListAsync(SignedIn who, Guid documentId)
    {
        using var response = await who.Client.GetAsync($"/api/v1/documents/{documentId}/comments");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return [.. (await response.JsonAsync()).GetProperty("items").EnumerateArray()];
    }

    private static async Task<int> NotificationCountAsync(SignedIn who, string kind, Guid documentId)
    {
        var page = await (await who.Client.GetAsync("/api/v1/notifications?limit=200")).JsonAsync();
        return page.GetProperty("items").EnumerateArray().Count(n => n.GetProperty("kind").GetString() == kind
            && n.GetProperty("documentId").ValueKind == JsonValueKind.String && n.GetProperty("documentId").GetGuid() == documentId);
    }

    [Fact]
    public async Task Readers_comment_authors_edit_and_delete_their_own_and_admins_moderate()
    {
        var reader = await f.CreateUserAsync("Member");
        var documentId = await UploadAsync(await WorkspaceAsync(reader));

        var mine = await CommentAsync(f.Member, documentId, "  First draft looks good.  ");
        mine.GetProperty("text").GetString().ShouldBe("First draft looks good.");
        mine.GetProperty("authorEmail").GetString().ShouldBe(f.Member.Email);
        var theirs = await CommentAsync(reader, documentId, "A reader may comment too.");
        (await ListAsync(reader, documentId)).Select(c => c.GetProperty("id").GetGuid())
            .ShouldBe([mine.GetProperty("id").GetGuid(), theirs.GetProperty("id").GetGuid()]);
        var document = await (await reader.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync();
        document.GetProperty("commentCount").GetInt32().ShouldBe(2);

        var mineId = mine.GetProperty("id").GetGuid();
        var theirsId = theirs.GetProperty("id").GetGuid();
        using (var edited = await f.Member.Client.PatchAsJsonAsync($"/api/v1/comments/{mineId}", new { text = "Second thoughts." }))
        {
            await edited.ShouldHaveStatusAsync(HttpStatusCode.OK);
            var body = await edited.JsonAsync();
            body.GetProperty("text").GetString().ShouldBe("Second thoughts.");
            body.GetProperty("editedAt").ValueKind.ShouldBe(JsonValueKind.String);
        }
        (await reader.Client.PatchAsJsonAsync($"/api/v1/comments/{mineId}", new { text = "Not yours." })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await f.Admin.Client.PatchAsJsonAsync($"/api/v1/comments/{mineId}", new { text = "Admins do not edit." })).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await reader.Client.DeleteAsync($"/api/v1/comments/{mineId}")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        (await reader.Client.DeleteAsync($"/api/v1/comments/{theirsId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await f.Admin.Client.DeleteAsync($"/api/v1/comments/{mineId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent, "admins moderate");
        (await ListAsync(f.Member, documentId)).ShouldBeEmpty();
        (await f.Admin.Client.DeleteAsync($"/api/v1/comments/{mineId}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE entity_id = ANY(@ids) AND action LIKE 'comment.%'",
            ("ids", new[] { mineId.ToString(), theirsId.ToString() }))).ShouldBe(5L, "two created, one edited, two deleted");
        (await f.OwnerScalarAsync<bool>("SELECT (data ->> 'moderated')::boolean FROM audit_events WHERE entity_id = @id AND action = 'comment.deleted'",
            ("id", mineId.ToString()))).ShouldBeTrue();
    }

    [Fact]
    public async Task Bad_comments_are_400_and_non_readers_see_no_document()
    {
        var outsider = await f.CreateUserAsync("Member");
        var documentId = await UploadAsync(await WorkspaceAsync());

        await (await PostAsync(f.Member, documentId, new { text = "   " })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await PostAsync(f.Member, documentId, new { text = new string('x', 4001) })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await PostAsync(f.Member, documentId, new { text = "bell\u0007" })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await PostAsync(f.Member, documentId, new { text = 42 })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await PostAsync(f.Member, documentId, new { })).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "validation.failed");
        await (await f.Member.Client.PostAsync($"/api/v1/documents/{documentId}/comments", new StringContent("[1]", System.Text.Encoding.UTF8, "application/json")))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        await (await f.Member.Client.PatchAsJsonAsync("/api/v1/comments/nope", new { text = "x" })).ShouldBeProblemAsync(HttpStatusCode.BadRequest);

        var comment = await CommentAsync(f.Member, documentId, new string('y', 4000));
        await (await PostAsync(outsider, documentId, new { text = "let me in" })).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        await (await outsider.Client.GetAsync($"/api/v1/documents/{documentId}/comments")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        await (await outsider.Client.DeleteAsync($"/api/v1/comments/{comment.GetProperty("id").GetGuid()}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "comment.not_found");
    }

    [Fact]
    public async Task A_mention_tells_a_reader_of_the_document_and_not_someone_who_cannot_read_it()
    {
        var reader = await f.CreateUserAsync("Member");
        var outsider = await f.CreateUserAsync("Member");
        var documentId = await UploadAsync(await WorkspaceAsync(reader));

        using (var posted = await PostAsync(f.Member, documentId, new { text = $"@{reader.Email.ToUpperInvariant()} and @{outsider.Email}, please check." }))
        {
            // The answer is the same whoever can read it: the author learns nothing about the outsider.
            await posted.ShouldHaveStatusAsync(HttpStatusCode.Created);
            (await posted.JsonAsync()).EnumerateObject().Select(p => p.Name).ShouldBe(["id", "documentId", "authorId", "authorEmail", "text", "createdAt", "editedAt"]);
        }
        var told = await CheckoutTests.WaitForNotificationAsync(reader, "comment.mentioned", documentId);
        told.GetProperty("title").GetString()!.ShouldContain(f.Member.Email);
        told.GetProperty("body").GetString()!.ShouldContain("please check");

        // Every message queued with the reader's has been delivered by now (one transaction, one dispatcher pass or two).
        await WaitForDeliveredAsync(documentId);
        (await NotificationCountAsync(outsider, "comment.mentioned", documentId)).ShouldBe(0);
        (await f.OwnerScalarAsync<long>("SELECT count(*) FROM outbox_messages WHERE type = 'notification.send' AND payload ->> 'documentId' = @id AND payload ->> 'kind' = 'comment.mentioned'",
            ("id", documentId.ToString()))).ShouldBe(1L, "one notification queued: the reader's");

        // An edit tells only whoever it newly mentions.
        var second = await f.CreateUserAsync("Member");
        using (var add = await f.Admin.Client.PostAsJsonAsync($"/api/v1/workspaces/{(await (await f.Admin.Client.GetAsync($"/api/v1/documents/{documentId}")).JsonAsync()).GetProperty("workspaceId").GetGuid()}/members",
            new { userId = second.UserId, role = "Viewer" }))
        {
            await add.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        var comment = await CommentAsync(f.Member, documentId, $"Thanks @{reader.Email}");
        using (var edited = await f.Member.Client.PatchAsJsonAsync($"/api/v1/comments/{comment.GetProperty("id").GetGuid()}", new { text = $"Thanks @{reader.Email} and @{second.Email}" }))
        {
            await edited.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        await CheckoutTests.WaitForNotificationAsync(second, "comment.mentioned", documentId);
        await WaitForDeliveredAsync(documentId);
        (await NotificationCountAsync(reader, "comment.mentioned", documentId)).ShouldBe(2, "the first comment and the second, not the edit");
    }

    [Fact]
    public async Task Another_tenant_sees_none_of_it()
    {
        var documentId = await UploadAsync(await WorkspaceAsync());
        var comment = await CommentAsync(f.Member, documentId, "tenant secret");
        var commentId = comment.GetProperty("id").GetGuid();
        var stranger = (await (await DmsApp.GetAsync()).CreateTenantAsync()).Admin;

        await (await stranger.Client.GetAsync($"/api/v1/documents/{documentId}/comments")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        await (await PostAsync(stranger, documentId, new { text = "hello" })).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        await (await stranger.Client.PatchAsJsonAsync($"/api/v1/comments/{commentId}", new { text = "mine now" })).ShouldBeProblemAsync(HttpStatusCode.NotFound, "comment.not_found");
        await (await stranger.Client.DeleteAsync($"/api/v1/comments/{commentId}")).ShouldBeProblemAsync(HttpStatusCode.NotFound, "comment.not_found");
        await (await stranger.Client.PostAsync($"/api/v1/documents/{documentId}/checkout", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound, "document.not_found");
        (await ListAsync(f.Member, documentId)).ShouldHaveSingleItem().GetProperty("text").GetString().ShouldBe("tenant secret");
    }

    private async Task WaitForDeliveredAsync(Guid documentId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await f.OwnerScalarAsync<long>(
            "SELECT count(*) FROM outbox_messages WHERE type = 'notification.send' AND payload ->> 'documentId' = @id AND status <> 'Done'",
            ("id", documentId.ToString())) > 0)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "notifications were not delivered in time");
            await Task.Delay(100);
        }
    }
}
