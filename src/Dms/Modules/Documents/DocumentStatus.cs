namespace Dms.Modules.Documents;

/// <summary>A document's lifecycle state, stored by name in <c>documents.status</c>.</summary>
internal enum DocumentStatus
{
    /// <summary>Readable and changeable.</summary>
    Active,

    /// <summary>A delete request is open: no other request until it ends.</summary>
    PendingDelete,

    /// <summary>A replace request is open: no other request until it ends.</summary>
    PendingReplace,

    /// <summary>In the trash: restorable by an admin until purged.</summary>
    Deleted,

    /// <summary>Content removed for good; the row stays as the audit trail's subject.</summary>
    Purged,
}

/// <summary>The document state machine: every allowed move in one place.</summary>
internal static class DocumentStates
{
    private static readonly Dictionary<DocumentStatus, DocumentStatus[]> Next = new()
    {
        [DocumentStatus.Active] = [DocumentStatus.PendingDelete, DocumentStatus.PendingReplace],
        // Released (request rejected, cancelled, expired, given up) or carried out.
        [DocumentStatus.PendingDelete] = [DocumentStatus.Active, DocumentStatus.Deleted],
        [DocumentStatus.PendingReplace] = [DocumentStatus.Active],
        [DocumentStatus.Deleted] = [DocumentStatus.Active, DocumentStatus.Purged],
        [DocumentStatus.Purged] = [],
    };

    /// <summary>States a document is in while a change request is open.</summary>
    public static readonly DocumentStatus[] Pending = [DocumentStatus.PendingDelete, DocumentStatus.PendingReplace];

    /// <summary>States in which a document exists for its readers (listed, downloadable).</summary>
    public static readonly DocumentStatus[] Live = [DocumentStatus.Active, DocumentStatus.PendingDelete, DocumentStatus.PendingReplace];

    /// <summary>States of a document that is no longer live.</summary>
    public static readonly DocumentStatus[] Gone = [DocumentStatus.Deleted, DocumentStatus.Purged];

    public static bool CanMove(DocumentStatus from, DocumentStatus to) => Next[from].Contains(to);

    /// <summary>The states from which <paramref name="to"/> may be reached, for a conditional <c>UPDATE … WHERE status IN (…)</c>.</summary>
    public static DocumentStatus[] From(DocumentStatus to) => [.. Next.Where(n => n.Value.Contains(to)).Select(n => n.Key)];
}
