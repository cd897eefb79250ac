using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dms.Modules.Documents;

/// <summary>
/// Why a document matched a search: <see cref="Snippet"/> is HTML-safe text (everything escaped) with the matched words in
/// <c>&lt;mark&gt;</c>; <see cref="InTitle"/> when the title itself matched (those rank first); <see cref="Similar"/> when no word
/// matched and only the title is like what was typed (typo tolerance; these come last).
/// </summary>
internal sealed record SearchMatch(string? Snippet, bool InTitle, double Rank, bool Similar = false);

/// <summary>Who holds a document's check-out, since when and until when it lasts unless checked in or broken.</summary>
internal sealed record CheckoutInfo(Guid UserId, string Email, DateTime Since, DateTime ExpiresAt);

/// <summary>A document version as the API shows it.</summary>
internal sealed record VersionResponse(int Number, long Size, string Sha256, string ContentType, string FileName, DateTime CreatedAt, Guid CreatedBy);

/// <summary>A document as the API shows it (its current version included); other modules pass it through as is.</summary>
internal sealed record DocumentResponse(
    Guid Id, string Title, string? Description, DocumentStatus Status, Guid WorkspaceId, Guid? FolderId, string[] Tags,
    DateTime CreatedAt, Guid CreatedBy, DateTime UpdatedAt, Guid UpdatedBy, VersionResponse CurrentVersion)
{
    internal int RowVersion { get; init; }

    /// <summary>The document's type (null: none); see <c>/api/v1/document-types</c>.</summary>
    public Guid? TypeId { get; init; }

    /// <summary>The values of its type's fields (key → value; a field without a value is absent).</summary>
    public JsonElement Fields { get; init; } = Types.StoredFields.Empty;

    /// <summary>Only in search results (<c>q=</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SearchMatch? Match { get; init; }

    /// <summary>Only in <c>GET /documents/{id}</c>, and only while someone holds a live check-out.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public CheckoutInfo? Checkout { get; init; }

    /// <summary>In <c>GET /documents/{id}</c> and in lists: how many comments the document has.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? CommentCount { get; init; }

    /// <summary>
    /// Only in an upload's response: the live documents the uploader may read whose current version has the same content
    /// (empty: none). Set by <c>Duplicates.DuplicateCheck</c>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Guid[]? DuplicateOf { get; init; }

    /// <summary>Strong validator for If-Match; changes with every metadata edit and every new version.</summary>
    public string ETag() => $"\"{RowVersion}\"";
}
