using Dapper;
using Dms.Modules.Documents.Domain;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Documents.Browse;

/// <summary>The filters of <c>GET /documents</c>, as given (validated by the handler).</summary>
internal sealed record ListDocuments(string? Q = null, string? WorkspaceId = null, string? FolderId = null, string? Tag = null, string? Status = null,
    string? Type = null, string? Sort = null, string? Order = null, int? Limit = null, string? Cursor = null, string? TypeId = null,
    IReadOnlyDictionary<string, string>? FieldFilters = null)
{
    /// <summary>
    /// The list parameters as named in the query string (<c>q</c>, <c>workspaceId</c>, <c>typeId</c>, <c>f.&lt;key&gt;</c>,
    /// <c>f.&lt;key&gt;.gte</c>…), from a URL's query or a saved view's / bulk job's <c>query</c>/<c>filter</c> object. Unknown names → 400.
    /// <c>FieldFilters</c> holds every <c>f.</c> parameter with its full name (<c>f.due.gte</c>) and raw value.
    /// </summary>
    public static ListDocuments FromParameters(IEnumerable<KeyValuePair<string, string?>> parameters)
    {
        var v = new Validator();
        var known = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in parameters)
        {
            if (name.StartsWith("f.", StringComparison.Ordinal))
            {
                v.Require(value is not null, name, $"{name} needs a value.");
                fields[name] = value ?? "";
            }
            else if (Names.Contains(name))
            {
                known[name] = value;
            }
            else
            {
                v.Require(false, name, $"{name} is not a list parameter (known: {string.Join(", ", Names)} and f.<field key>).");
            }
        }
        int? limit = null;
        if (known.GetValueOrDefault("limit") is { Length: > 0 } l)
        {
            v.Require(int.TryParse(l, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var parsed), "limit", "limit must be a whole number.");
            limit = parsed;
        }
        v.ThrowIfInvalid();
        return new ListDocuments(known.GetValueOrDefault("q"), known.GetValueOrDefault("workspaceId"), known.GetValueOrDefault("folderId"),
            known.GetValueOrDefault("tag"), known.GetValueOrDefault("status"), known.GetValueOrDefault("type"), known.GetValueOrDefault("sort"),
            known.GetValueOrDefault("order"), limit, known.GetValueOrDefault("cursor"), known.GetValueOrDefault("typeId"), fields.Count == 0 ? null : fields);
    }

    /// <summary>The list parameters other than <c>f.*</c>, as the query string spells them.</summary>
    public static readonly IReadOnlySet<string> Names = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "q", "workspaceId", "folderId", "tag", "status", "type", "sort", "order", "limit", "cursor", "typeId",
    };
}

internal sealed class ListDocumentsHandler(Db db, Search.DocumentSearch search) : IHandler<ListDocuments, Page<DocumentResponse>>
{
    public async Task<Page<DocumentResponse>> HandleAsync(ListDocuments query, CurrentUser me, CancellationToken ct)
    {
        var (filter, typeId, searching) = ToFilter(query, me);
        // Read-only: on the read replica when a GET may read there (ADR 0035).
        return await db.ReadTransactionInTenantAsync(me.TenantId, async (c, tx) =>
        {
            var scoped = filter;
            if (typeId is { } id)
            {
                var type = await Types.DocumentTypes.GetAsync(c, tx, me.TenantId, id, ct)
                    ?? throw new ApiProblem(StatusCodes.Status400BadRequest, "document.unknown_type", "typeId names no document type of this tenant.");
                scoped = filter with { Fields = Types.FieldQuery.Parse(type, query.FieldFilters, query.Sort, query.Order, query.Cursor) };
            }
            return await Comments.CommentCounts.FillAsync(c, tx, me.TenantId, searching
                ? await search.SearchAsync(c, tx, scoped, query.Cursor, ct)
                : await DocumentReadModel.ListAsync(c, tx, scoped, ct), ct);
        }, ct);
    }

    /// <summary>
    /// The list's parameters checked (400 with the parameter's name) and read into the filter the read model runs, the type the
    /// field conditions belong to, and whether it is a search. Saved views count with the same reading (ViewCounter).
    /// </summary>
    internal static (DocumentFilter Filter, Guid? TypeId, bool Searching) ToFilter(ListDocuments query, CurrentUser me)
    {
        var v = new Validator();
        v.Require(query.Q is null || (query.Q.Length <= Search.SearchText.MaxLength && !query.Q.Contains('\0', StringComparison.Ordinal)), "q",
            $"q is at most {Search.SearchText.MaxLength} characters.");
        var searching = !string.IsNullOrWhiteSpace(query.Q);
        v.Require(query.Tag is null || (query.Tag.Length <= Tags.MaxLength && !query.Tag.Any(char.IsControl)), "tag", $"tag is at most {Tags.MaxLength} characters.");
        var status = string.IsNullOrEmpty(query.Status) ? null : ListableStatuses.Canonical(query.Status);
        v.Require(string.IsNullOrEmpty(query.Status) || status is not null, "status", $"status must be {string.Join(", ", ListableStatuses.All.SkipLast(1))} or {ListableStatuses.All[^1]}.");
        v.Require(string.IsNullOrEmpty(query.Type) || FileFamilies.Patterns.ContainsKey(query.Type), "type", "type must be pdf, image, office or text.");
        // A search is ordered by relevance unless a sort is asked for; relevance means nothing without a query.
        var byRelevance = string.Equals(query.Sort, "relevance", StringComparison.OrdinalIgnoreCase) || (searching && string.IsNullOrEmpty(query.Sort));
        v.Require(!byRelevance || searching, "sort", "sort=relevance needs a search (q).");
        var byField = Types.FieldQuery.IsFieldSort(query.Sort);
        v.Require(!byField || !searching, "sort", "A search (q) cannot be sorted by a field.");
        DocumentSort? sortOrder = byRelevance ? null : byField ? DocumentSort.Default : DocumentSort.Parse(query.Sort, query.Order, v);
        v.ThrowIfInvalid();
        // Field keys belong to a type: f.* and sort=f.* need typeId (ADR 0027).
        if ((query.FieldFilters is { Count: > 0 } || byField) && string.IsNullOrEmpty(query.TypeId))
        {
            throw Types.FieldQuery.TypeRequired();
        }
        var typeId = RouteIds.ParseOptional(query.TypeId, "typeId");
        var filter = new DocumentFilter(me.TenantId, query.Q, RouteIds.ParseOptional(query.WorkspaceId, "workspaceId"), RouteIds.ParseOptional(query.FolderId, "folderId"),
            query.Tag, searching || byField ? null : DocumentCursor.Decode(query.Cursor, sortOrder!.Value), KeysetCursor.Limit(query.Limit), me, status,
            string.IsNullOrEmpty(query.Type) ? null : query.Type.ToLowerInvariant(), byField ? null : sortOrder);
        return (filter, typeId, searching);
    }
}

internal sealed record GetDocument(Guid DocumentId);

internal sealed class GetDocumentHandler(Db db, TimeProvider clock) : IHandler<GetDocument, DocumentResponse>
{
    public Task<DocumentResponse> HandleAsync(GetDocument query, CurrentUser me, CancellationToken ct) =>
        DocumentReadModel.GetForCallerAsync(db, me, query.DocumentId, clock.GetUtcNow().UtcDateTime, ct);
}

internal sealed record ListVersions(Guid DocumentId);

internal sealed class ListVersionsHandler(Db db) : IHandler<ListVersions, IReadOnlyList<VersionResponse>>
{
    /// <summary>
    /// One round trip: the live document with the caller's role in its workspace, then its versions. The versions are
    /// only returned after the same 404 check the separate workspace check made.
    /// </summary>
    internal static readonly string ScopeSql = $"""
        SELECT true AS found, m.role AS member_role FROM documents d
        {WorkspaceAccess.MemberRoleJoin}
        WHERE d.tenant_id = @tenant AND d.id = @documentId AND d.status NOT IN ({DocumentStates.Gone.Sql()})
        """;

    internal const string VersionsSql = """
        SELECT number, size, sha256, content_type, file_name, created_at, created_by FROM document_versions
        WHERE tenant_id = @tenant AND document_id = @documentId ORDER BY number DESC
        """;

    private static readonly string Sql = $"{ScopeSql};\n{VersionsSql}";

    public Task<IReadOnlyList<VersionResponse>> HandleAsync(ListVersions query, CurrentUser me, CancellationToken ct) =>
        db.ReadInTenantAsync(me.TenantId, Sql, new { tenant = me.TenantId, query.DocumentId, accessUser = me.UserId }, async grid =>
        {
            var scope = await grid.ReadSingleOrDefaultAsync<(bool Found, string? MemberRole)>();
            WorkspaceAccess.RequireRead(me, scope.Found, scope.MemberRole, "document");
            IReadOnlyList<VersionResponse> versions = (await grid.ReadAsync<VersionResponse>()).ToList();
            return versions;
        }, ct);
}
