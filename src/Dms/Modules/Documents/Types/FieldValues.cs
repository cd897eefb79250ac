using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dms.Modules.Access;
using Npgsql;

namespace Dms.Modules.Documents.Types;

/// <summary>
/// A document's field values checked against its type: each value in its canonical JSON form (number → JSON number,
/// date → "yyyy-MM-dd", boolean → true/false, multiselect → array of options, user → user id), absent keys omitted.
/// </summary>
internal static class FieldValues
{
    /// <summary>Text and URL values are capped so every value fits a btree index entry (ADR 0027).</summary>
    public const int TextMax = 500;
    public const int UrlMax = 600;

    /// <summary>
    /// The canonical form of <paramref name="value"/> for <paramref name="field"/> (a user field is only checked for its
    /// form here: <see cref="CheckAsync"/> checks the user). Strings are accepted for numbers, dates and yes/no, as forms send them.
    /// </summary>
    public static bool TryNormalize(FieldDefinition field, JsonElement value, out JsonElement normalized, out string message)
    {
        normalized = default;
        message = "";
        JsonNode? node = null;
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()!.Trim() : null;
        switch (field.Kind)
        {
            case FieldKind.Text:
                if (text is { Length: <= TextMax } && !text.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')))
                {
                    node = text;
                }
                message = $"'{field.Label}' is text of at most {TextMax} characters.";
                break;
            case FieldKind.Number:
                decimal number = 0;
                if ((value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out number))
                    || (text is not null && decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out number)))
                {
                    node = JsonValue.Create(number);
                }
                message = $"'{field.Label}' must be a number.";
                break;
            case FieldKind.Date:
                if (text is not null && DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                {
                    node = date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                }
                message = $"'{field.Label}' must be a date as yyyy-MM-dd.";
                break;
            case FieldKind.Boolean:
                bool? flag = value.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => text switch { "true" => true, "false" => false, _ => null },
                };
                if (flag is { } b)
                {
                    node = b;
                }
                message = $"'{field.Label}' must be true or false.";
                break;
            case FieldKind.Select:
                if (text is not null && field.Options!.Contains(text, StringComparer.Ordinal))
                {
                    node = text;
                }
                message = $"'{field.Label}' must be one of: {string.Join(", ", field.Options!)}.";
                break;
            case FieldKind.Multiselect:
                if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String && field.Options!.Contains(x.GetString()!.Trim(), StringComparer.Ordinal)))
                {
                    var chosen = value.EnumerateArray().Select(x => x.GetString()!.Trim()).Distinct(StringComparer.Ordinal);
                    node = new JsonArray([.. chosen.Select(x => (JsonNode)x)]);
                }
                message = $"'{field.Label}' must be a list of: {string.Join(", ", field.Options!)}.";
                break;
            case FieldKind.User:
                if (text is not null && Guid.TryParse(text, out var user))
                {
                    node = user.ToString();
                }
                message = $"'{field.Label}' must be the id of an active user.";
                break;
            case FieldKind.Url:
                if (text is { Length: <= UrlMax } && Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
                {
                    node = text;
                }
                message = $"'{field.Label}' must be an http or https address of at most {UrlMax} characters.";
                break;
        }
        if (node is null)
        {
            return false;
        }
        normalized = JsonSerializer.SerializeToElement(node);
        return true;
    }

    /// <summary>
    /// The values a document of <paramref name="type"/> stores: <paramref name="current"/> (kept), overlaid with
    /// <paramref name="changes"/> (a null value clears a key), defaults for what is still absent, then every rule:
    /// unknown keys → <c>document.unknown_field</c>, a bad value → <c>document.invalid_field</c>, a required field
    /// without a value → <c>document.field_required</c>; each 400 names the field. Returns the JSON object to store.
    /// </summary>
    public static async Task<string> CheckAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, DocumentType type, JsonElement? current,
        JsonElement? changes, CancellationToken ct)
    {
        var problems = new Problems();
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var byKey = type.Fields.ToDictionary(f => f.Key, StringComparer.Ordinal);
        if (current is { ValueKind: JsonValueKind.Object } before)
        {
            foreach (var p in before.EnumerateObject().Where(p => byKey.ContainsKey(p.Name)))
            {
                values[p.Name] = p.Value.Clone();
            }
        }
        var cleared = new HashSet<string>(StringComparer.Ordinal);
        if (changes is { } given)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                problems.Add("document.invalid_field", "fields", "fields must be a JSON object of field key → value.");
            }
            else
            {
                foreach (var p in given.EnumerateObject())
                {
                    if (!byKey.TryGetValue(p.Name, out var field))
                    {
                        problems.Add("document.unknown_field", $"fields.{p.Name}", $"'{p.Name}' is not a field of the type '{type.Name}'.");
                    }
                    else if (p.Value.ValueKind == JsonValueKind.Null || (p.Value.ValueKind == JsonValueKind.String && p.Value.GetString()!.Trim().Length == 0))
                    {
                        values.Remove(p.Name);
                        cleared.Add(p.Name);
                    }
                    else if (TryNormalize(field, p.Value, out var normalized, out var message))
                    {
                        values[p.Name] = normalized;
                    }
                    else
                    {
                        problems.Add("document.invalid_field", $"fields.{p.Name}", message);
                    }
                }
            }
        }
        foreach (var field in type.Fields)
        {
            if (!values.ContainsKey(field.Key) && !cleared.Contains(field.Key) && field.Default is { } d)
            {
                values[field.Key] = d;
            }
            if (values.TryGetValue(field.Key, out var v) && v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0)
            {
                values.Remove(field.Key);
            }
            problems.Require(values.ContainsKey(field.Key) || !field.Required, "document.field_required", $"fields.{field.Key}",
                $"'{field.Label}' ({field.Key}) is required.");
        }
        foreach (var field in type.Fields.Where(f => f.Kind == FieldKind.User && values.ContainsKey(f.Key)))
        {
            var id = Guid.Parse(values[field.Key].GetString()!);
            problems.Require(await UserDirectory.IsActiveAsync(c, tx, tenant, id, ct), "document.invalid_field", $"fields.{field.Key}",
                $"'{field.Label}' must be an active user of this tenant.");
        }
        problems.ThrowIfAny();
        return JsonSerializer.Serialize(values);
    }

    /// <summary>A stored value as words for a page: labels' language, not JSON (yes/no, a date as 7 Dec 2026, choices joined).</summary>
    public static string Display(FieldDefinition field, JsonElement value, Func<Guid, string?>? userName = null) => field.Kind switch
    {
        FieldKind.Boolean => value.ValueKind == JsonValueKind.True ? "Yes" : "No",
        FieldKind.Date when DateOnly.TryParseExact(value.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) =>
            d.ToString("d MMM yyyy", CultureInfo.InvariantCulture),
        FieldKind.Multiselect when value.ValueKind == JsonValueKind.Array => string.Join(", ", value.EnumerateArray().Select(x => x.GetString())),
        FieldKind.Number when value.ValueKind == JsonValueKind.Number => value.GetDecimal().ToString("#,##0.##########", CultureInfo.InvariantCulture),
        FieldKind.User when Guid.TryParse(value.GetString(), out var u) => userName?.Invoke(u) ?? "a user",
        _ => value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText(),
    };
}

/// <summary>The stored <c>documents.fields</c> object as the API shows it.</summary>
internal static class StoredFields
{
    public static readonly JsonElement Empty = JsonDocument.Parse("{}").RootElement.Clone();

    public static JsonElement Parse(string? json) => string.IsNullOrEmpty(json) || json == "{}" ? Empty : JsonDocument.Parse(json).RootElement.Clone();
}
