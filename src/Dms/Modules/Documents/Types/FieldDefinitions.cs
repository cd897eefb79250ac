using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Dms.Platform.Http;

namespace Dms.Modules.Documents.Types;

/// <summary>The kinds a custom field may have, stored and sent by their contract names (<c>text</c>, <c>number</c>…).</summary>
internal enum FieldKind
{
    Text,
    Number,
    Date,
    Boolean,
    Select,
    Multiselect,
    User,
    Url,
}

internal static class FieldKinds
{
    public static readonly IReadOnlyDictionary<string, FieldKind> ByName = Enum.GetValues<FieldKind>()
        .ToDictionary(k => Name(k), k => k, StringComparer.Ordinal);

    public static string Name(FieldKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Kinds whose values live in <c>value_number</c> / <c>value_date</c>; the rest in <c>value_text</c> (the trigger's rule too).</summary>
    public static string Column(FieldKind kind) => kind switch
    {
        FieldKind.Number => "value_number",
        FieldKind.Date => "value_date",
        _ => "value_text",
    };

    public static bool HasRange(FieldKind kind) => kind is FieldKind.Number or FieldKind.Date;

    /// <summary>The words the UI shows for a kind.</summary>
    public static string Label(FieldKind kind) => kind switch
    {
        FieldKind.Text => "Text",
        FieldKind.Number => "Number",
        FieldKind.Date => "Date",
        FieldKind.Boolean => "Yes/no",
        FieldKind.Select => "Single choice",
        FieldKind.Multiselect => "Multiple choice",
        FieldKind.User => "User",
        _ => "Web address",
    };
}

/// <summary>One field of a document type, as stored in <c>document_types.fields</c> and shown by the API.</summary>
internal sealed record FieldDefinition(string Key, string Label, [property: JsonIgnore] FieldKind Kind, bool Required, string[]? Options, JsonElement? Default)
{
    [JsonPropertyName("kind")]
    public string KindName => FieldKinds.Name(Kind);
}

/// <summary>The limits and the validation of field definitions (admins write them; problem codes <c>document_type.*</c>).</summary>
internal static partial class FieldDefinitions
{
    public const int MaxFields = 50;
    public const int LabelMax = 100;
    public const int NameMax = 100;
    public const int MaxOptions = 100;
    public const int OptionMax = 100;

    /// <summary>Keys are used in query strings (<c>f.&lt;key&gt;</c>): a letter, then letters, digits or underscores.</summary>
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,39}$")]
    public static partial Regex KeyFormat();

    /// <summary>
    /// Parses and checks the <c>fields</c> array of a type. Every problem is listed (field path → message); the problem's
    /// code is the first problem's (<c>document_type.invalid_key</c>, <c>.duplicate_key</c>, <c>.unknown_kind</c>,
    /// <c>.options_required</c>, <c>.invalid_default</c>, or <c>.invalid_field</c>).
    /// </summary>
    public static IReadOnlyList<FieldDefinition> Parse(JsonElement? fields)
    {
        var errors = new Problems();
        var result = new List<FieldDefinition>();
        if (fields is not { } array || array.ValueKind == JsonValueKind.Null || array.ValueKind == JsonValueKind.Undefined)
        {
            return result;
        }
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw errors.Add("document_type.invalid_field", "fields", "fields must be an array.").Problem()!;
        }
        errors.Require(array.GetArrayLength() <= MaxFields, "document_type.invalid_field", "fields", $"A type has at most {MaxFields} fields.");
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        foreach (var field in array.EnumerateArray())
        {
            var at = $"fields[{i++}]";
            if (field.ValueKind != JsonValueKind.Object)
            {
                errors.Add("document_type.invalid_field", at, "Each field is an object with key, label and kind.");
                continue;
            }
            var key = Str(field, "key");
            if (key is null || !KeyFormat().IsMatch(key))
            {
                errors.Add("document_type.invalid_key", $"{at}.key", "key is a letter then up to 39 letters, digits or underscores.");
            }
            else if (!keys.Add(key))
            {
                errors.Add("document_type.duplicate_key", $"{at}.key", $"The key '{key}' is used twice (keys are compared ignoring case).");
            }
            var label = Str(field, "label")?.Trim();
            errors.Require(label is { Length: >= 1 and <= LabelMax } && !label.Any(char.IsControl), "document_type.invalid_field", $"{at}.label",
                $"label is 1-{LabelMax} characters.");
            var kindName = Str(field, "kind");
            FieldKind? kind = kindName is not null && FieldKinds.ByName.TryGetValue(kindName, out var k) ? k : null;
            errors.Require(kind is not null, "document_type.unknown_kind", $"{at}.kind", $"kind must be one of {string.Join(", ", FieldKinds.ByName.Keys)}.");
            var required = false;
            if (field.TryGetProperty("required", out var r) && r.ValueKind != JsonValueKind.Null)
            {
                errors.Require(r.ValueKind is JsonValueKind.True or JsonValueKind.False, "document_type.invalid_field", $"{at}.required", "required is true or false.");
                required = r.ValueKind == JsonValueKind.True;
            }
            string[]? options = null;
            if (field.TryGetProperty("options", out var o) && o.ValueKind != JsonValueKind.Null)
            {
                var valid = o.ValueKind == JsonValueKind.Array && o.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String);
                options = valid ? o.EnumerateArray().Select(x => x.GetString()!.Trim()).ToArray() : null;
                errors.Require(valid && options!.Length <= MaxOptions && options.All(x => x.Length is >= 1 and <= OptionMax && !x.Any(char.IsControl))
                               && options.Distinct(StringComparer.Ordinal).Count() == options.Length,
                    "document_type.invalid_field", $"{at}.options", $"options are at most {MaxOptions} distinct strings of 1-{OptionMax} characters.");
            }
            if (kind is FieldKind.Select or FieldKind.Multiselect)
            {
                errors.Require(options is { Length: > 0 }, "document_type.options_required", $"{at}.options", "A select or multiselect field needs options.");
            }
            else
            {
                errors.Require(options is null, "document_type.invalid_field", $"{at}.options", "Only select and multiselect fields have options.");
                options = null;
            }
            JsonElement? @default = null;
            if (field.TryGetProperty("default", out var d) && d.ValueKind != JsonValueKind.Null && kind is { } fieldKind)
            {
                var definition = new FieldDefinition(key ?? "", label ?? "", fieldKind, required, options, null);
                JsonElement normalized = default;
                var ok = fieldKind != FieldKind.User && (options is not null || fieldKind is not (FieldKind.Select or FieldKind.Multiselect)) && FieldValues.TryNormalize(definition, d, out normalized, out _);
                errors.Require(ok, "document_type.invalid_default", $"{at}.default",
                    fieldKind == FieldKind.User ? "A user field has no default." : $"default is not a valid {FieldKinds.Name(fieldKind)} value for this field.");
                @default = ok ? normalized : null;
            }
            foreach (var property in field.EnumerateObject())
            {
                errors.Require(property.Name is "key" or "label" or "kind" or "required" or "options" or "default", "document_type.invalid_field",
                    $"{at}.{property.Name}", $"'{property.Name}' is not a field property (key, label, kind, required, options, default).");
            }
            if (key is not null && label is not null && kind is not null)
            {
                result.Add(new FieldDefinition(key, label, kind.Value, required, options, @default));
            }
        }
        errors.ThrowIfAny();
        return result;
    }

    public static string? Name(JsonElement? name) => name is { ValueKind: JsonValueKind.String } n ? Text(n)?.Trim() : null;

    /// <summary>A JSON string as text; null for one that is no valid UTF-16 (an unpaired surrogate escape), which GetString throws on.</summary>
    private static string? Text(JsonElement e)
    {
        try
        {
            return e.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    public static bool IsValidName(string? name) => name is { Length: >= 1 and <= NameMax } && !name.Any(char.IsControl);

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? Text(p) : null;

    /// <summary>Stored form: the API's JSON (contract names for kinds).</summary>
    public static string Serialize(IReadOnlyList<FieldDefinition> fields) => JsonSerializer.Serialize(fields.Select(Stored), JsonOptions);

    public static IReadOnlyList<FieldDefinition> Deserialize(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(f => new FieldDefinition(
            f.GetProperty("key").GetString()!, f.GetProperty("label").GetString()!, FieldKinds.ByName[f.GetProperty("kind").GetString()!],
            f.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.True,
            f.TryGetProperty("options", out var o) && o.ValueKind == JsonValueKind.Array ? o.EnumerateArray().Select(x => x.GetString()!).ToArray() : null,
            f.TryGetProperty("default", out var d) && d.ValueKind != JsonValueKind.Null ? d.Clone() : null)).ToList();
    }

    private static object Stored(FieldDefinition f) => new { key = f.Key, label = f.Label, kind = f.KindName, required = f.Required, options = f.Options, @default = f.Default };

    private static readonly JsonSerializerOptions JsonOptions = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    internal static string Invariant(decimal d) => d.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Validation problems with a stable code each; the first one's code names the whole problem.</summary>
internal sealed class Problems
{
    private readonly Dictionary<string, List<string>> _errors = [];
    private string? _code;
    private string? _first;

    public Problems Add(string code, string field, string message)
    {
        _code ??= code;
        _first ??= message;
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }
        list.Add(message);
        return this;
    }

    public Problems Require(bool condition, string code, string field, string message) => condition ? this : Add(code, field, message);

    public bool Any => _code is not null;

    public ApiProblem? Problem() => _code is null
        ? null
        : new ApiProblem(StatusCodes.Status400BadRequest, _code, _first!, string.Join(" ", _errors.SelectMany(e => e.Value)))
        {
            Errors = _errors.ToDictionary(e => e.Key, e => e.Value.ToArray()),
        };

    public void ThrowIfAny()
    {
        if (Problem() is { } problem)
        {
            throw problem;
        }
    }
}
