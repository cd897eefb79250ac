using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dms.Tests.Approvals;
using Dms.Tests.Infrastructure;
using Shouldly;
using Xunit;

namespace Dms.Tests.Collaboration;

/// <summary>
/// Check-out and check-in (issue 16, item 7): while a document is checked out only its holder may request a
/// replacement; the lock ends with a check-in, its expiry or an admin's break. Each test works on documents of its own
/// in the suite's tenant (<see cref="ApprovalFixture"/>: two admins and a member).
/// </summary>
public sealed class CheckoutTests(ApprovalFixture f) : IClassFixture<ApprovalFixture>
{
    private static Task<HttpResponseMessage> CheckOutAsync(SignedIn who, Guid documentId) =>
        who.Client.PostAsync($"/api/v1/documents/{documentId}/checkout", null);

    private static Task<HttpResponseMessage> CheckInAsync(SignedIn who, Guid documentId) =>
        who.Client.PostAsync($"/api/v1/documents/{documentId}/checkin", null);

    private static Task<HttpResponseMessage> ReplaceAsync(SignedIn who, Guid documentId, string text = "second version") =>
        who.Client.PostAsync($"/api/v1/documents/{documentId}/replace-requests", new MultipartFormDataContent
        {
            { new ByteArrayContent(Uploads.Text(text)), "file", "doc.txt" },
            { new StringContent("new figures"), "reason" },
        });

    private static async Task<JsonElement> GetAsync(SignedIn who, Guid documentId)
    {
        using var response = await who.Client.GetAsync($"/api/v1/documents/{documentId}");
        await response.ShouldHaveStatusAsync(HttpStatusCode.OK);
        return await response.JsonAsync();
    }

    private async Task<long> AuditCountAsync(Guid documentId, string action) =>
        await f.OwnerScalarAsync<long>("SELECT count(*) FROM audit_events WHERE entity_id = @id AND action = @action",
            ("id", documentId.ToString()), ("action", action));

    [Fact]
    public async Task Another_members_replace_is_refused_423_while_checked_out_and_allowed_after_check_in()
    {
        var other = await f.CreateUserAsync("Member");
        var documentId = await f.UploadAsync(f.Member);

        using var taken = await CheckOutAsync(f.Member, documentId);
        await taken.ShouldHaveStatusAsync(HttpStatusCode.OK);
        var lockInfo = await taken.JsonAsync();
        lockInfo.GetProperty("userId").GetGuid().ShouldBe(f.Member.UserId);
        var since = lockInfo.GetProperty("since").GetDateTime();

        using (var refused = await ReplaceAsync(other, documentId))
        {
            var problem = await refused.ShouldBeProblemAsync(HttpStatusCode.Locked, "document.locked");
            problem.GetProperty("checkout").GetProperty("userId").GetGuid().ShouldBe(f.Member.UserId);
        }
        // Everyone sees who holds it and since when.
        var seen = (await GetAsync(other, documentId)).GetProperty("checkout");
        seen.GetProperty("userId").GetGuid().ShouldBe(f.Member.UserId);
        seen.GetProperty("email").GetString().ShouldBe(f.Member.Email);
        seen.GetProperty("since").GetDateTime().ShouldBe(since);

        using (var second = await CheckOutAsync(other, documentId))
        {
            var problem = await second.ShouldBeProblemAsync(HttpStatusCode.Conflict, "document.checked_out");
            problem.GetProperty("checkout").GetProperty("email").GetString().ShouldBe(f.Member.Email);
        }
        (await CheckInAsync(other, documentId)).StatusCode.ShouldBe(HttpStatusCode.Conflict, "only the holder checks in");
        using (var again = await CheckOutAsync(f.Member, documentId))
        {
            await again.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await again.JsonAsync()).GetProperty("since").GetDateTime().ShouldBe(since, "checking out what you hold changes nothing");
        }

        (await CheckInAsync(f.Member, documentId)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await GetAsync(other, documentId)).TryGetProperty("checkout", out _).ShouldBeFalse();
        using (var allowed = await ReplaceAsync(other, documentId))
        {
            await allowed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        (await AuditCountAsync(documentId, "document.checked_out")).ShouldBe(1L);
        (await AuditCountAsync(documentId, "document.checked_in")).ShouldBe(1L);
    }

    [Fact]
    public async Task The_holder_may_request_a_replacement_while_checked_out()
    {
        var documentId = await f.UploadAsync(f.Member);
        (await CheckOutAsync(f.Member, documentId)).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var own = await ReplaceAsync(f.Member, documentId);
        await own.ShouldHaveStatusAsync(HttpStatusCode.Created);
    }

    [Fact]
    public async Task An_expired_check_out_is_no_lock()
    {
        var other = await f.CreateUserAsync("Member");
        var documentId = await f.UploadAsync(f.Member);
        using var taken = await CheckOutAsync(f.Member, documentId);
        var lockInfo = await taken.JsonAsync();
        (lockInfo.GetProperty("expiresAt").GetDateTime() - lockInfo.GetProperty("since").GetDateTime()).ShouldBe(TimeSpan.FromHours(8), "the default timeout");
        (await ReplaceAsync(other, documentId)).StatusCode.ShouldBe(HttpStatusCode.Locked);

        // Nine hours later, as the app's clock sees it: the row stays, but it is no longer a lock.
        await f.OwnerSqlAsync("""
            UPDATE document_checkouts SET checked_out_at = checked_out_at - interval '9 hours', expires_at = expires_at - interval '9 hours'
            WHERE document_id = @id
            """, ("id", documentId));
        (await GetAsync(other, documentId)).TryGetProperty("checkout", out _).ShouldBeFalse();
        using (var allowed = await ReplaceAsync(other, documentId))
        {
            await allowed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
        // And anyone may take it again.
        using var retaken = await CheckOutAsync(other, documentId);
        await retaken.ShouldHaveStatusAsync(HttpStatusCode.OK);
        (await retaken.JsonAsync()).GetProperty("userId").GetGuid().ShouldBe(other.UserId);
    }

    [Fact]
    public async Task An_admin_breaks_a_check_out_the_break_is_audited_and_the_holder_is_told()
    {
        var other = await f.CreateUserAsync("Member");
        var documentId = await f.UploadAsync(f.Member);
        (await CheckOutAsync(f.Member, documentId)).StatusCode.ShouldBe(HttpStatusCode.OK);

        using (var notAdmin = await other.Client.DeleteAsync($"/api/v1/documents/{documentId}/checkout"))
        {
            notAdmin.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }
        (await ReplaceAsync(other, documentId)).StatusCode.ShouldBe(HttpStatusCode.Locked);
        using (var broken = await f.Admin.Client.DeleteAsync($"/api/v1/documents/{documentId}/checkout"))
        {
            await broken.ShouldHaveStatusAsync(HttpStatusCode.OK);
            (await broken.JsonAsync()).GetProperty("userId").GetGuid().ShouldBe(f.Member.UserId);
        }
        (await AuditCountAsync(documentId, "document.checkout_broken")).ShouldBe(1L);
        (await f.Admin.Client.DeleteAsync($"/api/v1/documents/{documentId}/checkout")).StatusCode.ShouldBe(HttpStatusCode.Conflict, "nothing left to break");

        var told = await WaitForNotificationAsync(f.Member, "document.checkout_broken", documentId);
        told.GetProperty("title").GetString()!.ShouldContain("check-out");
        using (var allowed = await ReplaceAsync(other, documentId))
        {
            await allowed.ShouldHaveStatusAsync(HttpStatusCode.Created);
        }
    }

    [Fact]
    public async Task Of_many_members_checking_out_at_once_exactly_one_holds_the_lock()
    {
        var members = new List<SignedIn>();
        for (var i = 0; i < 6; i++)
        {
            members.Add(await f.CreateUserAsync("Member"));
        }
        var documentId = await f.UploadAsync(f.Member);

        using var start = new SemaphoreSlim(0);
        var calls = Enumerable.Range(0, 120).Select(async i =>
        {
            await start.WaitAsync();
            var who = members[i % members.Count];
            using var response = await CheckOutAsync(who, documentId);
            var body = await response.JsonAsync();
            return (who.UserId, response.StatusCode, Holder: response.StatusCode == HttpStatusCode.OK
                ? body.GetProperty("userId").GetGuid()
                : body.GetProperty("checkout").GetProperty("userId").GetGuid(), Code: body.TryGetProperty("code", out var code) ? code.GetString() : null);
        }).ToList();
        start.Release(120);
        var answers = await Task.WhenAll(calls);

        var holder = answers.Select(a => a.Holder).Distinct().ShouldHaveSingleItem();
        answers.Where(a => a.StatusCode == HttpStatusCode.OK).ShouldAllBe(a => a.UserId == holder);
        answers.Where(a => a.UserId != holder).ShouldAllBe(a => a.StatusCode == HttpStatusCode.Conflict && a.Code == "document.checked_out");
        (await AuditCountAsync(documentId, "document.checked_out")).ShouldBe(1L);
        (await GetAsync(f.Admin, documentId)).GetProperty("checkout").GetProperty("userId").GetGuid().ShouldBe(holder);
    }

    [Fact]
    public async Task Readers_cannot_check_out_and_bad_ids_are_4xx()
    {
        var viewer = await f.CreateUserAsync("Viewer");
        var documentId = await f.UploadAsync(f.Member);
        (await CheckOutAsync(viewer, documentId)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await CheckOutAsync(f.Member, Guid.NewGuid())).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        using var bad = await f.Member.Client.PostAsync("/api/v1/documents/not-a-guid/checkout", null);
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await CheckInAsync(f.Member, documentId)).StatusCode.ShouldBe(HttpStatusCode.Conflict);
    }

    internal static async Task<JsonElement> WaitForNotificationAsync(SignedIn who, string kind, Guid documentId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        do
        {
            var page = await (await who.Client.GetAsync("/api/v1/notifications?limit=200")).JsonAsync();
            var found = page.GetProperty("items").EnumerateArray()
                .FirstOrDefault(n => n.GetProperty("kind").GetString() == kind && n.GetProperty("documentId").ValueKind == JsonValueKind.String
                    && n.GetProperty("documentId").GetGuid() == documentId);
            if (found.ValueKind == JsonValueKind.Object)
            {
                return found;
            }
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        throw new ShouldAssertException($"No {kind} notification for {documentId} reached {who.Email}.");
    }
}
