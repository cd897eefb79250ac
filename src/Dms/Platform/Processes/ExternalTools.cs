namespace Dms.Platform.Processes;

/// <summary>
/// Which external tools this node has (looked up on PATH once). A missing tool disables what needs it: the caller
/// records "not available on this server" instead of failing, and the node logs one line per missing tool at start-up.
/// </summary>
internal sealed class ExternalTools
{
    private readonly Dictionary<string, string?> _found = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The full path of <paramref name="tool"/>, or null when it is not on PATH.</summary>
    public string? Find(string tool)
    {
        lock (_gate)
        {
            if (!_found.TryGetValue(tool, out var path))
            {
                path = Lookup(tool);
                _found[tool] = path;
            }
            return path;
        }
    }

    public bool Has(string tool) => Find(tool) is not null;

    private static string? Lookup(string tool)
    {
        if (Path.IsPathRooted(tool))
        {
            return File.Exists(tool) ? tool : null;
        }
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
