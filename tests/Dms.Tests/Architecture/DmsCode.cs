using Mono.Cecil;

namespace Dms.Tests.Architecture;

/// <summary>Where the production code is, and which area (Platform, a module, Ui, Pages, Cli) a type or file belongs to.</summary>
internal static class DmsCode
{
    public const string Platform = "Platform";
    public const string Ui = "Ui";
    public const string Pages = "Pages";
    public const string Cli = "Cli";
    /// <summary>Program.cs and anything else outside the named areas: composition only.</summary>
    public const string Host = "Host";

    private static readonly Lazy<IReadOnlyList<TypeFacts>> AssemblyFacts = new(() =>
    {
        // Read once and fully here: Cecil's lazy reading is not thread-safe and xunit runs test classes in parallel.
        using var module = ModuleDefinition.ReadModule(typeof(Program).Assembly.Location, new ReaderParameters { ReadingMode = ReadingMode.Immediate });
        return Il.Facts(module);
    });

    /// <summary>Every top-level type of Dms.dll with what it (and its nested, compiler-generated types) uses.</summary>
    public static IReadOnlyList<TypeFacts> Types => AssemblyFacts.Value;

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SourceRoot => Path.Combine(RepoRoot, "src", "Dms");

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dms.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No Dms.slnx above {AppContext.BaseDirectory}.");
    }

    /// <summary>Source files of src/Dms with the given extension, as paths relative to the repo root with '/' separators;
    /// build output and the SQL migrations (the schema itself, owned by no module) are left out.</summary>
    public static IEnumerable<string> SourceFiles(string extension) =>
        Directory.EnumerateFiles(SourceRoot, "*" + extension, SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(RepoRoot, f).Replace('\\', '/'))
            .Where(f => !f.Split('/').Any(s => s is "bin" or "obj" or "Migrations"))
            .Order(StringComparer.Ordinal);

    /// <summary>The area of a file given relative to the repo root: the folder after src/Dms/Modules/, or Platform, Ui, Pages, Cli.</summary>
    public static string AreaOfFile(string relativePath)
    {
        var parts = relativePath.Replace('\\', '/').Split('/');
        var i = Array.IndexOf(parts, "Dms");
        if (i < 0 || parts.Length < i + 3)
        {
            return Host;
        }
        return parts[i + 1] switch
        {
            "Modules" when parts.Length > i + 3 => parts[i + 2],
            Platform or Ui or Pages or Cli => parts[i + 1],
            _ => Host,
        };
    }

    /// <summary>The area of a type: a module name for Dms.Modules.X(.…), Platform, Ui, Pages (Razor views compiled into
    /// AspNetCoreGeneratedDocument.Pages_… included), Cli; null for anything else (Program, framework and library types).</summary>
    public static string? AreaOf(TypeName type)
    {
        var ns = type.Namespace;
        if (ns.StartsWith("Dms.Modules.", StringComparison.Ordinal))
        {
            return ns.Split('.')[2];
        }
        if (ns == "AspNetCoreGeneratedDocument" && type.Name.StartsWith("Pages_", StringComparison.Ordinal))
        {
            return Pages;
        }
        foreach (var area in new[] { Platform, Ui, Pages, Cli })
        {
            if (ns == "Dms." + area || ns.StartsWith("Dms." + area + ".", StringComparison.Ordinal))
            {
                return area;
            }
        }
        return null;
    }

    public static bool IsModule(string? area) => area is not (null or Platform or Ui or Pages or Cli or Host);

    /// <summary>The module names, read from the namespaces under Dms.Modules (so a new module is covered without editing a list).</summary>
    public static IReadOnlyList<string> Modules =>
        Types.Select(t => AreaOf(t.Type)).Where(IsModule).Select(a => a!).Distinct().Order(StringComparer.Ordinal).ToList();
}
