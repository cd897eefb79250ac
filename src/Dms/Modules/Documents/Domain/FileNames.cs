using System.Text;

namespace Dms.Modules.Documents.Domain;

/// <summary>
/// Original file names are display metadata only (storage keys are ids), but they come back in
/// Content-Disposition, so they are reduced to a safe single name.
/// </summary>
internal static class FileNames
{
    public const int MaxLength = 255;

    private static readonly HashSet<string> WindowsReserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    public static string Sanitize(string? raw)
    {
        var name = (raw ?? "").Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        var clean = new StringBuilder(name.Length);
        // EnumerateRunes turns lone surrogates into U+FFFD, so Normalize below cannot throw.
        foreach (var rune in name.EnumerateRunes())
        {
            if (Rune.IsControl(rune))
            {
                continue;
            }
            clean.Append(rune.Value is '<' or '>' or ':' or '"' or '|' or '?' or '*' ? "_" : rune.ToString());
        }
        name = clean.ToString().Normalize(NormalizationForm.FormC);
        name = name.Trim().TrimEnd('.', ' ');
        if (name.Length == 0 || name is "." or "..")
        {
            name = "file";
        }
        var stem = Path.GetFileNameWithoutExtension(name);
        if (WindowsReserved.Contains(stem))
        {
            name = "_" + name;
        }
        if (name.Length > MaxLength)
        {
            var extension = Path.GetExtension(name);
            extension = extension.Length > 16 ? "" : extension;
            var cut = MaxLength - extension.Length;
            if (char.IsHighSurrogate(name[cut - 1]))
            {
                cut--; // keep surrogate pairs whole
            }
            name = name[..cut] + extension;
        }
        return name;
    }
}
