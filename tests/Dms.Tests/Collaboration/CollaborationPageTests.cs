using System.Net;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Collaboration;

/// <summary>The document page's check-out and comments panels, driven through its forms as a browser would post them.</summary>
public sealed class CollaborationPageTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    [Fact]
    public async Task The_page_checks_out_shows_the_holder_to_others_and_posts_and_shows_plain_text_comments()
    {
        var other = await f.CreateUserAsync("Member");
        var documentId = await f.UploadAsync(f.Member);
        var url = $"/documents/{documentId}";
        using var holder = await f.Tenant.SignInToUiAsync(f.Member);
        using var viewer = await f.Tenant.SignInToUiAsync(other);

        var page = await holder.GetStringAsync(url);
        page.ShouldContain("Not checked out.");
        using (var checkout = await holder.PostFormAsync($"{url}?handler=Checkout", page, []))
        {
            checkout.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        (await holder.GetStringAsync(url)).ShouldContain("Checked out by <strong>you</strong>");
        var seen = await viewer.GetStringAsync(url);
        seen.ShouldContain($"Checked out by <strong>{f.Member.Email}</strong>");
        seen.ShouldNotContain("data-testid=\"checkin\"");

        using (var comment = await viewer.PostFormAsync($"{url}?handler=Comment", seen, new() { ["CommentText"] = "<b>bold?</b> no" }))
        {
            comment.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        var withComment = await holder.GetStringAsync(url);
        withComment.ShouldContain("&lt;b&gt;bold?&lt;/b&gt; no", Case.Sensitive, "comments are plain text");
        withComment.ShouldContain("Comments <span class=\"muted\">(1)</span>");

        using (var empty = await viewer.PostFormAsync($"{url}?handler=Comment", seen, new() { ["CommentText"] = "   " }))
        {
            empty.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
            (await empty.Content.ReadAsStringAsync()).ShouldContain("text is required.");
        }
        using (var checkin = await holder.PostFormAsync($"{url}?handler=Checkin", withComment, []))
        {
            checkin.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        (await viewer.GetStringAsync(url)).ShouldContain("Not checked out.");
    }
}
