using System.Net;
using System.Net.Http.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;
using static Dms.Tests.Organise.Organising;

namespace Dms.Tests.Organise;

/// <summary>Comments in lists and search (issue 16, item 6): each list item carries its comment count; a word said in a comment finds the document.</summary>
public sealed class CommentListSearchTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private static async Task<Guid> CommentAsync(SignedIn who, Guid documentId, string text)
    {
        using var response = await who.Client.PostAsJsonAsync($"/api/v1/documents/{documentId}/comments", new { text });
        await response.ShouldHaveStatusAsync(HttpStatusCode.Created);
        return (await response.JsonAsync()).GetProperty("id").GetGuid();
    }

    [Fact]
    public async Task List_items_carry_their_comment_count()
    {
        var workspace = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var quiet = (await UploadAsync(f.Member, workspace, "quiet")).GetProperty("id").GetGuid();
        var talked = (await UploadAsync(f.Member, workspace, "talked about")).GetProperty("id").GetGuid();
        await CommentAsync(f.Member, talked, "One.");
        await CommentAsync(f.Admin, talked, "Two.");
        await CommentAsync(f.Member, talked, "Three.");

        var counts = (await ListAsync(f.Member, $"workspaceId={workspace}")).ToDictionary(d => d.GetProperty("id").GetGuid(), d => d.GetProperty("commentCount").GetInt32());
        counts[talked].ShouldBe(3);
        counts[quiet].ShouldBe(0);
    }

    [Fact]
    public async Task A_word_in_a_comment_finds_the_document_until_the_comment_no_longer_says_it()
    {
        var workspace = await WorkspaceAsync(f, (f.Member, "Contributor"));
        var documentId = (await UploadAsync(f.Member, workspace, "nothing special in here")).GetProperty("id").GetGuid();
        var word = $"quokka{Guid.NewGuid():N}"[..18];
        var other = $"wombat{Guid.NewGuid():N}"[..18];
        (await ListAsync(f.Member, $"q={word}")).ShouldBeEmpty();

        var commentId = await CommentAsync(f.Member, documentId, $"See the {word} figures on page 2.");
        var found = await ListAsync(f.Member, $"q={word}");
        found.Select(d => d.GetProperty("id").GetGuid()).ShouldBe([documentId]);
        found[0].GetProperty("commentCount").GetInt32().ShouldBe(1, "search results carry the count too");

        using (var edited = await f.Member.Client.PatchAsJsonAsync($"/api/v1/comments/{commentId}", new { text = $"Rather the {other} figures." }))
        {
            await edited.ShouldHaveStatusAsync(HttpStatusCode.OK);
        }
        (await ListAsync(f.Member, $"q={word}")).ShouldBeEmpty("the edit took the word out");
        (await ListAsync(f.Member, $"q={other}")).Select(d => d.GetProperty("id").GetGuid()).ShouldBe([documentId]);

        (await f.Member.Client.DeleteAsync($"/api/v1/comments/{commentId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await ListAsync(f.Member, $"q={other}")).ShouldBeEmpty("a deleted comment no longer finds the document");

        var outsider = await f.CreateUserAsync("Member");
        await CommentAsync(f.Member, documentId, $"Again {word}.");
        (await ListAsync(outsider, $"q={word}")).ShouldBeEmpty("search still answers only what the caller may read");
    }
}
