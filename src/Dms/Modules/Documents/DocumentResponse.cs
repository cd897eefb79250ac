namespace Dms.Modules.Documents;

/// <summary>A document version as the API shows it.</summary>
internal sealed record VersionResponse(int Number, long Size, string Sha256, string ContentType, string FileName, DateTime CreatedAt, Guid CreatedBy);

/// <summary>A document as the API shows it (its current version included); other modules pass it through as is.</summary>
internal sealed record DocumentResponse(
    Guid Id, string Title, string? Description, DocumentStatus Status, Guid WorkspaceId, Guid? FolderId, string[] Tags,
    DateTime CreatedAt, Guid CreatedBy, DateTime UpdatedAt, Guid UpdatedBy, VersionResponse CurrentVersion)
{
    internal int RowVersion { get; init; }

    /// <summary>Strong validator for If-Match; changes with every metadata edit and every new version.</summary>
    public string ETag() => $"\"{RowVersion}\"";
}
