using System.Globalization;
using System.Text.Json;
using Dapper;
using Dms.Platform.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Modules.Documents.Types;

/// <summary>One condition on a field's value: <c>f.key=</c> (equality; for a multiselect, "has this option"), <c>.gte</c>, <c>.lte</c>.</summary>
internal sealed record FieldCondition(string Key, FieldKind Kind, string Operator, object Value);

/// <summary>A sort by a field; documents without a value come last in either direction (ADR 0027).</summary>
internal sealed record FieldSort(string Key, FieldKind Kind, bool Descending)
{
    public string Column => $"s.{FieldKinds.Column(Kind)}";
}

/// <summary>
/// The position after a page sorted by a field: the sort (key, direction), whether the page ended among documents
/// without a value (<see cref="Nulls"/>), the last value in its canonical text and the last id. base64url JSON.
/// </summary>
internal sealed record FieldCursor(string Key, bool Descending, bool Nulls, string? Value, Guid Id)
{
    public string Encode() => WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(new Wire(Key, Descending, Nulls, Value, Id)));

    public static FieldCursor? Decode(string? text, FieldSort sort)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }
        Wire? wire;
        try
        {
            wire = JsonSerializer.Deserialize<Wire>(WebEncoders.Base64UrlDecode(text));
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException)
        {
            throw Invalid();
        }
        if (wire is null || wire.K is null || wire.I == Guid.Empty || (!wire.N && wire.V is null))
        {
            throw Invalid();
        }
        if (wire.K != sort.Key || wire.D != sort.Descending)
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "request.cursor_sort_mismatch",
                "The cursor belongs to another sort order.", "Start again without a cursor when sort or order changes.");
        }
        var cursor = new FieldCursor(wire.K, wire.D, wire.N, wire.V, wire.I);
        if (!cursor.Nulls && FieldQuery.TryValue(sort.Kind, cursor.Value!, out _) is false)
        {
            throw Invalid();
        }
        return cursor;
    }

    private static ApiProblem Invalid() => new(StatusCodes.Status400BadRequest, "request.invalid_cursor", "The cursor is not one this API issued.");

    private sealed record Wire(string? K, bool D, bool N, string? V, Guid I);
}

/// <summary>What a list asks of types and fields: the type, conditions on its fields, and maybe a sort by one.</summary>
internal sealed record FieldListing(Guid TypeId, IReadOnlyList<FieldCondition> Conditions, FieldSort? Sort, FieldCursor? After)
{
    /// <summary>A condition on the sort's own field bounds the sorted index walk itself, and leaves no document without a value.</summary>
    public IEnumerable<FieldCondition> OnSortKey => Sort is null ? [] : Conditions.Where(c => c.Key == Sort.Key);

    public IEnumerable<FieldCondition> OnOtherKeys => Sort is null ? Conditions : Conditions.Where(c => c.Key != Sort.Key);
}

internal static class FieldQuery
{
    public static bool IsFieldSort(string? sort) => sort is not null && sort.StartsWith("f.", StringComparison.Ordinal);

    public static ApiProblem TypeRequired() => new(StatusCodes.Status400BadRequest, "document_type.required_for_fields",
        "Filtering or sorting by a field needs typeId: field keys belong to a document type.");

    /// <summary>The list parameters about fields, checked against <paramref name="type"/>; each bad one is a 400 naming it.</summary>
    public static FieldListing Parse(DocumentType type, IReadOnlyDictionary<string, string>? filters, string? sort, string? order, string? cursor)
    {
        var problems = new Problems();
        var conditions = new List<FieldCondition>();
        foreach (var (name, raw) in filters ?? new Dictionary<string, string>())
        {
            var rest = name[2..];
            var op = "=";
            if (rest.EndsWith(".gte", StringComparison.Ordinal))
            {
                op = ">=";
                rest = rest[..^4];
            }
            else if (rest.EndsWith(".lte", StringComparison.Ordinal))
            {
                op = "<=";
                rest = rest[..^4];
            }
            if (type.Field(rest) is not { } field)
            {
                problems.Add("document.unknown_field", name, $"'{rest}' is not a field of the type '{type.Name}'.");
                continue;
            }
            if (op != "=" && !FieldKinds.HasRange(field.Kind))
            {
                problems.Add("document.invalid_filter", name, $"'{field.Label}' is {FieldKinds.Name(field.Kind)}: only number and date fields take .gte/.lte.");
                continue;
            }
            if (!TryFilterValue(field, raw, out var value))
            {
                problems.Add("document.invalid_filter", name, $"'{raw}' is not a {FieldKinds.Name(field.Kind)} value for '{field.Label}'.");
                continue;
            }
            conditions.Add(new FieldCondition(field.Key, field.Kind, op, value));
        }
        FieldSort? fieldSort = null;
        if (IsFieldSort(sort))
        {
            var key = sort![2..];
            bool? descending = order?.ToLowerInvariant() switch { null or "" or "asc" => false, "desc" => true, _ => null };
            problems.Require(descending is not null, "validation.failed", "order", "order must be asc or desc.");
            if (type.Field(key) is not { } field)
            {
                problems.Add("document.unknown_field", "sort", $"'{key}' is not a field of the type '{type.Name}'.");
            }
            else if (field.Kind == FieldKind.Multiselect)
            {
                problems.Add("document.invalid_sort", "sort", $"'{field.Label}' holds several choices: a list cannot be sorted by it.");
            }
            else
            {
                fieldSort = new FieldSort(field.Key, field.Kind, descending ?? false);
            }
        }
        problems.ThrowIfAny();
        return new FieldListing(type.Id, conditions, fieldSort, fieldSort is null ? null : FieldCursor.Decode(cursor, fieldSort));
    }

    /// <summary>A filter value as its column's parameter: numbers double (the column's type, ADR 0027), dates <see cref="DateOnly"/>, the rest canonical text.</summary>
    private static bool TryFilterValue(FieldDefinition field, string raw, out object value)
    {
        value = "";
        if (field.Kind == FieldKind.Multiselect)
        {
            // "Contains": one row per chosen option, so equality with one option finds every document that has it.
            field = field with { Kind = FieldKind.Select };
        }
        if (!FieldValues.TryNormalize(field, JsonSerializer.SerializeToElement(raw), out var normalized, out _))
        {
            return false;
        }
        var text = normalized.ValueKind == JsonValueKind.String ? normalized.GetString()! : normalized.GetRawText();
        return TryValue(field.Kind, text, out value);
    }

    /// <summary>A canonical value text (as stored in <c>documents.fields</c>, or a cursor) as a parameter of the kind's column.</summary>
    public static bool TryValue(FieldKind kind, string text, out object value)
    {
        value = text;
        switch (kind)
        {
            case FieldKind.Number when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n):
                value = n;
                return true;
            case FieldKind.Number:
                return false;
            case FieldKind.Date when DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d):
                value = d;
                return true;
            case FieldKind.Date:
                return false;
            default:
                return true;
        }
    }

    /// <summary>The canonical text of a document's value for the cursor (null: no value).</summary>
    public static string? CursorValue(JsonElement fields, string key) =>
        fields.ValueKind == JsonValueKind.Object && fields.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? v.ValueKind == JsonValueKind.String ? v.GetString() : v.GetRawText()
            : null;

    /// <summary>
    /// The conditions on <c>d</c> for the type and for fields other than the sort's: <c>d.id IN</c> the documents whose
    /// value matches, one index range on <c>document_field_values</c> per field (all conditions on a field in one range).
    /// </summary>
    public static void AddConditions(FieldListing listing, List<string> where, DynamicParameters p)
    {
        where.Add("d.type_id = @TypeId");
        p.Add("TypeId", listing.TypeId);
        var i = 0;
        foreach (var group in listing.OnOtherKeys.GroupBy(c => c.Key))
        {
            var alias = $"fv{i}";
            var parts = new List<string> { $"{alias}.tenant_id = @Tenant", $"{alias}.type_id = @TypeId", $"{alias}.key = @FKey{i}" };
            p.Add($"FKey{i}", group.Key);
            var j = 0;
            foreach (var condition in group)
            {
                parts.Add($"{alias}.{FieldKinds.Column(condition.Kind)} {condition.Operator} @FVal{i}_{j}");
                p.Add($"FVal{i}_{j}", condition.Value);
                j++;
            }
            where.Add($"d.id IN (SELECT {alias}.document_id FROM document_field_values {alias} WHERE {string.Join(" AND ", parts)})");
            i++;
        }
    }

    /// <summary>The conditions on <c>s</c> (the sorted field's rows) for the values phase or the no-value phase of the sort.</summary>
    public static void AddSortConditions(FieldListing listing, bool nulls, List<string> where, DynamicParameters p)
    {
        var sort = listing.Sort!;
        where.Add("s.tenant_id = @Tenant");
        where.Add("s.type_id = @TypeId");
        where.Add("s.key = @SortKey");
        p.Add("SortKey", sort.Key);
        if (nulls)
        {
            // The predicate of document_field_values_missing, which gives these rows in id order.
            where.Add("s.value_text IS NULL AND s.value_number IS NULL AND s.value_date IS NULL");
            if (listing.After is { Nulls: true } after)
            {
                where.Add($"s.document_id {(sort.Descending ? "<" : ">")} @AfterId");
                p.Add("AfterId", after.Id);
            }
            return;
        }
        where.Add($"{sort.Column} IS NOT NULL");
        var i = 0;
        foreach (var condition in listing.OnSortKey)
        {
            where.Add($"{sort.Column} {condition.Operator} @SVal{i}");
            p.Add($"SVal{i}", condition.Value);
            i++;
        }
        if (listing.After is { Nulls: false } a)
        {
            TryValue(sort.Kind, a.Value!, out var key);
            where.Add($"({sort.Column}, s.document_id) {(sort.Descending ? "<" : ">")} (@AfterKey, @AfterId)");
            p.Add("AfterKey", key);
            p.Add("AfterId", a.Id);
        }
    }
}
