using Dapper;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>The one query shape every document endpoint answers with (document plus its current version).</summary>
internal static class DocumentReadModel
{
    public const string Select = """
        SELECT d.id, d.title, d.description, d.status, d.workspace_id, d.folder_id, d.tags, d.created_at, d.created_by,
               d.updated_at, d.updated_by, d.row_version, d.type_id, d.fields::text AS fields,
               v.number, v.size, v.sha256, v.content_type, v.file_name, v.created_at AS version_created_at, v.created_by AS version_created_by
        FROM documents d
        JOIN document_versions v ON v.tenant_id = d.tenant_id AND v.document_id = d.id AND v.number = d.current_version
        """;

    public static async Task<DocumentResponse?> GetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, CancellationToken ct)
    {
        var row = await c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"{Select} WHERE d.tenant_id = @tenant AND d.id = @id AND d.status NOT IN ({DocumentStates.Gone.Sql()})", new { tenant, id }, tx, cancellationToken: ct));
        return row?.ToResponse();
    }

    /// <summary>
    /// GET /documents/{id} in one round trip: the live document, its current version and the caller's role in its
    /// workspace. 404 when it is missing, gone or in a workspace the caller cannot read (as the separate check answered).
    /// </summary>
    public static readonly string GetForCallerSql =
        $"{Select.Replace("FROM documents d", ", m.role AS member_role\nFROM documents d", StringComparison.Ordinal)}\n{WorkspaceAccess.MemberRoleJoin}\n" +
        $"WHERE d.tenant_id = @tenant AND d.id = @id AND d.status NOT IN ({DocumentStates.Gone.Sql()})";

    /// <summary>The live check-out and the comment count, read in the same round trip as <see cref="GetForCallerSql"/>.</summary>
    private const string CollaborationSql = """
        SELECT user_id AS UserId, holder_email AS Email, checked_out_at AS Since, expires_at AS ExpiresAt FROM document_checkouts
        WHERE tenant_id = @tenant AND document_id = @id AND expires_at > @now;
        SELECT count(*)::int FROM document_comments WHERE tenant_id = @tenant AND document_id = @id
        """;

    /// <summary>As <see cref="GetForCallerSql"/> answers, with who holds the check-out at <paramref name="now"/> and the comment count.</summary>
    public static Task<DocumentResponse> GetForCallerAsync(Db db, CurrentUser me, Guid id, DateTime now, CancellationToken ct) =>
        db.ReadInTenantAsync(me.TenantId, $"{GetForCallerSql};\n{CollaborationSql}", new { tenant = me.TenantId, id, accessUser = me.UserId, now }, async grid =>
        {
            var row = await grid.ReadSingleOrDefaultAsync<Row>();
            WorkspaceAccess.RequireRead(me, row is not null, row?.MemberRole, "document");
            var checkout = await grid.ReadSingleOrDefaultAsync<CheckoutInfo>();
            var comments = await grid.ReadSingleAsync<int>();
            return row!.ToResponse() with { Checkout = checkout, CommentCount = comments };
        }, ct);

    public static async Task<Page<DocumentResponse>> ListAsync(NpgsqlConnection c, NpgsqlTransaction tx, DocumentFilter filter, CancellationToken ct)
    {
        if (filter.Fields is { Sort: not null } listing)
        {
            return await ListByFieldAsync(c, tx, filter, listing, ct);
        }
        var (sql, p) = ListQuery(filter);
        var rows = (await c.QueryAsync<Row>(new CommandDefinition(sql, p, tx, cancellationToken: ct))).ToList();
        var items = rows.Take(filter.Limit).Select(r => r.ToResponse()).ToList();
        var next = rows.Count > filter.Limit ? DocumentCursor.After(filter.Sort ?? DocumentSort.Default, items[^1]).Encode() : null;
        return new Page<DocumentResponse>(items, next);
    }

    /// <summary>
    /// The conditions of every filter of <paramref name="filter"/> but the keyset and the search words, on <c>d</c> (documents),
    /// with their parameters (search joins its candidates back under the same conditions).
    /// </summary>
    internal static (List<string> Where, DynamicParameters Parameters) Conditions(DocumentFilter filter)
    {
        var where = new List<string> { "d.tenant_id = @Tenant", $"d.status NOT IN ({DocumentStates.Gone.Sql()})" };
        var p = new DynamicParameters(new { filter.Tenant, Limit = filter.Limit + 1 });
        if (filter.WorkspaceId is { } ws)
        {
            where.Add("d.workspace_id = @WorkspaceId");
            p.Add("WorkspaceId", ws);
        }
        if (filter.FolderId is { } folder)
        {
            where.Add("d.folder_id = @FolderId");
            p.Add("FolderId", folder);
        }
        if (!string.IsNullOrWhiteSpace(filter.Tag))
        {
            // Equality on document_tags (LEAKPROOF, indexed); `tags @> …` could never use an index under RLS (ADR 0016).
            where.Add("d.id IN (SELECT t.document_id FROM document_tags t WHERE t.tenant_id = @Tenant AND t.tag = @Tag)");
            p.Add("Tag", Tags.Normalize(filter.Tag));
        }
        if (filter.Caller is { } caller)
        {
            p.AddDynamicParams(WorkspaceAccess.Parameters(caller));
        }
        if (filter.Status is { } status)
        {
            where.Add("d.status = @Status");
            p.Add("Status", status.Db());
        }
        if (filter.Family is { } family)
        {
            // The current version's family, stored on the document (migration 0013): an equality its index serves.
            where.Add("d.content_family = @Family");
            p.Add("Family", family);
        }
        if (filter.Fields is { } fields)
        {
            Types.FieldQuery.AddConditions(fields, where, p);
        }
        return (where, p);
    }

    /// <summary>The list's SQL and parameters for <paramref name="filter"/> (QueryPlanTests explains exactly this).</summary>
    internal static (string Sql, DynamicParameters Parameters) ListQuery(DocumentFilter filter)
    {
        var (where, p) = Conditions(filter);
        var member = filter.Caller is { IsAdmin: false };
        var sort = filter.Sort ?? DocumentSort.Default;
        var direction = sort.Descending ? "DESC" : "ASC";
        if (filter.After is { } after)
        {
            // Row comparison on (key, id) matches ORDER BY key, id in either direction, so ties on the key never skip rows.
            where.Add($"({sort.Column}, d.id) {(sort.Descending ? "<" : ">")} (@AfterKey, @AfterId)");
            p.Add("AfterKey", after.Key);
            p.Add("AfterId", after.Id);
        }
        var order = $"ORDER BY {sort.Column} {direction}, d.id {direction} LIMIT @Limit";
        var sql = member
            // A member's page starts from the workspaces they may read: one ordered index walk of at most a page per
            // workspace, then the best page of those. A filter on every row instead walks the whole tenant in list
            // order, however few documents the member can see (issue 12: 1 readable document in 1M took seconds).
            ? $"SELECT page.* FROM ({WorkspaceAccess.ReadableWorkspaces}) r CROSS JOIN LATERAL (" +
              $"{Select} WHERE {string.Join(" AND ", where)} AND d.workspace_id = r.workspace_id {order}) page " +
              order.Replace("d.", "page.", StringComparison.Ordinal)
            : $"{Select} WHERE {string.Join(" AND ", where)} {order}";
        return (sql, p);
    }

    /// <summary>
    /// A page sorted by a field: first the documents with a value, in (value, id) order from the field's index, then,
    /// when those run out, the documents without one in id order (the same index, its null range): NULLS LAST either way.
    /// A cursor says which of the two ranges it stopped in.
    /// </summary>
    private static async Task<Page<DocumentResponse>> ListByFieldAsync(NpgsqlConnection c, NpgsqlTransaction tx, DocumentFilter filter,
        Types.FieldListing listing, CancellationToken ct)
    {
        var items = new List<DocumentResponse>();
        var more = false;
        var lastInNulls = false;
        // A condition on the sorted field itself excludes the documents without a value.
        bool[] phases = listing.After is { Nulls: true } ? [true] : listing.OnSortKey.Any() ? [false] : [false, true];
        foreach (var nulls in phases)
        {
            // One row more than still fits tells whether there is a next page (with none left to fill: whether any is left).
            var remaining = filter.Limit - items.Count;
            var (sql, p) = FieldSortQuery(filter with { Limit = remaining }, listing, nulls);
            var rows = (await c.QueryAsync<Row>(new CommandDefinition(sql, p, tx, cancellationToken: ct))).Select(r => r.ToResponse()).ToList();
            if (rows.Count > remaining)
            {
                more = true;
            }
            var taken = rows.Take(remaining).ToList();
            if (taken.Count > 0)
            {
                items.AddRange(taken);
                lastInNulls = nulls;
            }
            if (more)
            {
                break;
            }
        }
        var sort = listing.Sort!;
        var next = more
            ? new Types.FieldCursor(sort.Key, sort.Descending, lastInNulls, lastInNulls ? null : Types.FieldQuery.CursorValue(items[^1].Fields, sort.Key), items[^1].Id).Encode()
            : null;
        return new Page<DocumentResponse>(items, next);
    }

    /// <summary>
    /// The SQL of one range of a field-sorted page (QueryPlanTests explains exactly this): the sorted field's rows of
    /// <c>document_field_values</c> (<c>s</c>) in index order, joined to their documents under every other filter. A member
    /// reads only documents of workspaces they may read (a condition here, not the per-workspace walk: the walk is the
    /// field's index).
    /// </summary>
    internal static (string Sql, DynamicParameters Parameters) FieldSortQuery(DocumentFilter filter, Types.FieldListing listing, bool nulls)
    {
        var (where, p) = Conditions(filter);
        Types.FieldQuery.AddSortConditions(listing, nulls, where, p);
        if (filter.Caller is { IsAdmin: false })
        {
            where.Add($"d.workspace_id IN ({WorkspaceAccess.ReadableWorkspaces})");
        }
        var sort = listing.Sort!;
        var direction = sort.Descending ? "DESC" : "ASC";
        var order = nulls ? $"ORDER BY s.document_id {direction}" : $"ORDER BY {sort.Column} {direction}, s.document_id {direction}";
        // OFFSET 0 keeps the document a probe per field row (its primary key), in the field index's order: joined freely, the
        // planner may merge-join a rare range (no value) against the tenant's documents in id order and read thousands.
        var from = Select.Replace("FROM documents d",
            "FROM document_field_values s\nCROSS JOIN LATERAL (SELECT * FROM documents d0 WHERE d0.tenant_id = s.tenant_id AND d0.id = s.document_id OFFSET 0) d",
            StringComparison.Ordinal);
        return ($"{from} WHERE {string.Join(" AND ", where)} {order} LIMIT @Limit", p);
    }

    /// <summary>Rows of <see cref="Select"/> followed by the caller's joins, conditions and order (search answers in the same shape).</summary>
    internal static async Task<List<DocumentResponse>> QueryAsync(NpgsqlConnection c, NpgsqlTransaction tx, string afterFrom, object parameters,
        CancellationToken ct) =>
        (await c.QueryAsync<Row>(new CommandDefinition($"{Select} {afterFrom}", parameters, tx, cancellationToken: ct))).Select(r => r.ToResponse()).ToList();

    private sealed class Row
    {
        public Guid Id { get; init; }
        public string Title { get; init; } = "";
        public string? Description { get; init; }
        public DocumentStatus Status { get; init; }
        public Guid WorkspaceId { get; init; }
        public Guid? FolderId { get; init; }
        public string[] Tags { get; init; } = [];
        public DateTime CreatedAt { get; init; }
        public Guid CreatedBy { get; init; }
        public DateTime UpdatedAt { get; init; }
        public Guid UpdatedBy { get; init; }
        public int RowVersion { get; init; }
        public int Number { get; init; }
        public long Size { get; init; }
        public string Sha256 { get; init; } = "";
        public string ContentType { get; init; } = "";
        public string FileName { get; init; } = "";
        public DateTime VersionCreatedAt { get; init; }
        public Guid VersionCreatedBy { get; init; }
        public string? MemberRole { get; init; }
        public Guid? TypeId { get; init; }
        public string Fields { get; init; } = "{}";

        public DocumentResponse ToResponse() =>
            new(Id, Title, Description, Status, WorkspaceId, FolderId, Tags, CreatedAt, CreatedBy, UpdatedAt, UpdatedBy,
                new VersionResponse(Number, Size, Sha256, ContentType, FileName, VersionCreatedAt, VersionCreatedBy))
            { RowVersion = RowVersion, TypeId = TypeId, Fields = Types.StoredFields.Parse(Fields) };
    }
}

/// <summary>A document list query; with a <see cref="Caller"/> it shows only workspaces the caller may read.</summary>
internal sealed record DocumentFilter(Guid Tenant, string? Query, Guid? WorkspaceId, Guid? FolderId, string? Tag, DocumentCursor? After, int Limit,
    Platform.Security.CurrentUser? Caller = null, DocumentStatus? Status = null, string? Family = null, DocumentSort? Sort = null)
{
    /// <summary>typeId, f.* and sort=f.* (Types/FieldQuery.cs); with a field sort, <see cref="Sort"/> and <see cref="After"/> are unused.</summary>
    public Types.FieldListing? Fields { get; init; }
}

/// <summary>Tags are case-insensitive labels: trimmed, lower-cased, distinct.</summary>
internal static class Tags
{
    public const int MaxCount = 50;
    public const int MaxLength = 64;

    public static string Normalize(string tag) => tag.Trim().ToLowerInvariant();

    public static string[] NormalizeAll(IEnumerable<string?> tags, Validator v, string field = "tags")
    {
        var list = tags.ToList();
        v.Require(list.All(t => t is not null), field, "Tags cannot be null.");
        var result = list.OfType<string>().Select(Normalize).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
        v.Require(result.Length <= MaxCount, field, $"At most {MaxCount} tags.");
        v.Require(result.All(t => t.Length <= MaxLength && !t.Any(char.IsControl) && !t.Contains(',', StringComparison.Ordinal)), field,
            $"Each tag is at most {MaxLength} characters, without commas or control characters.");
        return result;
    }
}

/// <summary>Limits on the text fields of a document.</summary>
internal static class DocumentFields
{
    public const int TitleMax = 300;
    public const int DescriptionMax = 4000;

    /// <summary>A title from a file name: its stem (or the whole name), capped.</summary>
    public static string TitleFromFileName(string fileName)
    {
        var title = Path.GetFileNameWithoutExtension(fileName) is { Length: > 0 } stem ? stem : fileName;
        return title.Length > TitleMax ? title[..TitleMax] : title;
    }

    public static bool IsValidTitle(string? title) => title is not null && title.Trim().Length is >= 1 and <= TitleMax && !title.Any(char.IsControl);

    public static bool IsValidDescription(string? description) =>
        description is null || (description.Length <= DescriptionMax && !description.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')));
}
