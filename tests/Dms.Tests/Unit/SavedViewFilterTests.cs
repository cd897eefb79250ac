using Dms.Pages;
using Shouldly;
using Xunit;

namespace Dms.Tests.Unit;

/// <summary>"Save view" keeps what the documents page filters by, named as the API names it.</summary>
public sealed class SavedViewFilterTests
{
    [Fact]
    public void The_pages_field_chooser_is_saved_as_the_fields_condition_and_display_settings_are_not_filters()
    {
        var saved = DocumentsPageQuery.ToListParameters("?workspace=w1&typeId=t1&fieldKey=due&fieldValue=2026-12-24&view=grid&cursor=c&sort=title");
        saved.ShouldBe(new Dictionary<string, string?>
        {
            ["workspaceId"] = "w1",
            ["typeId"] = "t1",
            ["f.due"] = "2026-12-24",
            ["sort"] = "title",
        }, ignoreOrder: true);
    }

    [Fact]
    public void A_field_value_without_a_document_type_is_no_condition()
    {
        DocumentsPageQuery.ToListParameters("?fieldKey=due&fieldValue=2026-12-24").ShouldBeEmpty();
    }
}
