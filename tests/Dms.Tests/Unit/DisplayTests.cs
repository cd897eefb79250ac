using Dms.Ui;
using Shouldly;
using Xunit;

namespace Dms.Tests.Unit;

/// <summary>Identifiers never reach the screen: background message types are shown in words.</summary>
public sealed class DisplayTests
{
    [Theory]
    [InlineData("approval.execute", "Carry out an approved request")]
    [InlineData("approval.discard_staged", "Discard a replacement's proposed file")]
    [InlineData("document.purge", "Remove a deleted document for good")]
    [InlineData("notification.send", "Send a notification")]
    [InlineData("something.new_kind", "something new kind")]
    public void Message_types_are_shown_in_words(string type, string words) => Display.MessageType(type).ShouldBe(words);
}
