using Dms.Modules.Access.Domain;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Http;
using Shouldly;
using Xunit;

namespace Dms.Tests.Unit;

public sealed class RulesTests
{
    [Theory]
    [InlineData("../../etc/passwd", "passwd")]
    [InlineData("C:\\Users\\me\\report.pdf", "report.pdf")]
    [InlineData("a\u0000b\u001fc.txt", "abc.txt")]
    [InlineData("CON.txt", "_CON.txt")]
    [InlineData("trailing dots...", "trailing dots")]
    [InlineData("", "file")]
    [InlineData("..", "file")]
    [InlineData("what?<>.pdf", "what___.pdf")]
    [InlineData("Ünïcode – name.pdf", "Ünïcode – name.pdf")]
    public void File_names_are_reduced_to_one_safe_name(string raw, string expected) =>
        FileNames.Sanitize(raw).ShouldBe(expected);

    [Fact]
    public void Long_file_names_are_capped_keeping_the_extension()
    {
        var name = FileNames.Sanitize(new string('n', 400) + ".pdf");
        name.Length.ShouldBe(FileNames.MaxLength);
        name.ShouldEndWith(".pdf");
    }

    [Fact]
    public void Capping_never_splits_a_surrogate_pair()
    {
        var name = FileNames.Sanitize(new string('a', 250) + "😀😀.pdf");
        name.ShouldEndWith(".pdf");
        name.Length.ShouldBeLessThanOrEqualTo(FileNames.MaxLength);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsHighSurrogate(name[i]))
            {
                char.IsLowSurrogate(name[i + 1]).ShouldBeTrue();
            }
            if (char.IsLowSurrogate(name[i]))
            {
                char.IsHighSurrogate(name[i - 1]).ShouldBeTrue();
            }
        }
    }

    [Fact]
    public void A_lone_surrogate_does_not_break_sanitising() =>
        FileNames.Sanitize("bad\ud800name.txt").ShouldBe("bad\ufffdname.txt");

    [Fact]
    public void Cursors_round_trip_to_the_microsecond()
    {
        var at = new DateTime(2026, 11, 21, 13, 14, 15, DateTimeKind.Utc).AddTicks(1234560);
        var cursor = new KeysetCursor(at, Guid.NewGuid());
        KeysetCursor.Decode(cursor.Encode()).ShouldBe(cursor);
    }

    [Theory]
    [InlineData("!!!")]
    [InlineData("AAAA")]
    [InlineData("_____________________________________________")]
    public void Foreign_cursors_are_rejected_as_400(string cursor)
    {
        var ex = Should.Throw<ApiProblem>(() => KeysetCursor.Decode(cursor));
        ex.Code.ShouldBe("request.invalid_cursor");
    }

    [Theory]
    [InlineData("ada@example.com", true)]
    [InlineData("a@b", true)]
    [InlineData("no-at-sign", false)]
    [InlineData("@example.com", false)]
    [InlineData("a@", false)]
    [InlineData("a@b@c", false)]
    [InlineData("with space@example.com", false)]
    [InlineData("nul\u0000@example.com", false)]
    public void Email_rule(string email, bool valid) => AccountRules.IsValidEmail(email).ShouldBe(valid);

    [Theory]
    [InlineData("acme", true)]
    [InlineData("acme-2", true)]
    [InlineData("a", false)]
    [InlineData("Acme", false)]
    [InlineData("-acme", false)]
    [InlineData("ac me", false)]
    public void Slug_rule(string slug, bool valid) => AccountRules.IsValidSlug(slug).ShouldBe(valid);

    [Fact]
    public void Failures_shown_to_tenant_admins_never_carry_driver_text()
    {
        var secret = "s3.internal.corp:9000 bucket=tenant-files SELECT * FROM users";
        Exception[] failures =
        [
            new Dms.Platform.Storage.BlobStoreUnavailableException(secret, new HttpRequestException(secret)),
            new TimeoutException(secret),
            new InvalidOperationException(secret),
            new OperationCanceledException(secret),
        ];
        foreach (var failure in failures)
        {
            Dms.Platform.Outbox.OutboxDispatcher.Describe(failure).ShouldNotContain("corp", Case.Insensitive, failure.GetType().Name);
        }
        Dms.Platform.Outbox.OutboxDispatcher.Describe(new Dms.Platform.Outbox.PermanentOutboxFailure("No handler for message type 'x'."))
            .ShouldBe("No handler for message type 'x'.");
    }
}
