using System.Text.RegularExpressions;
using NetArchTest.Rules;
using Shouldly;
using Xunit;

namespace Dms.Tests.Architecture;

/// <summary>
/// The walls between Platform, the modules and the UI, read from Dms.dll's IL. A type's nested types (lambdas' closures,
/// async state machines, local functions) count as the type itself. Each rule lists every offending pair.
/// </summary>
public sealed partial class DependencyRuleTests
{
    internal sealed record Offence(TypeName From, TypeName To)
    {
        public override string ToString() => $"{From} -> {To}";
    }

    /// <summary>Platform is the ground floor: no module, Ui, Pages or Cli type.</summary>
    internal static IEnumerable<Offence> PlatformOffences(IEnumerable<TypeFacts> types) =>
        Pairs(types, from => from == DmsCode.Platform, (_, to) => to.Area is { } a && (DmsCode.IsModule(a) || a is DmsCode.Ui or DmsCode.Pages or DmsCode.Cli));

    /// <summary>Modules sit below the UI and the command line: no Ui, Pages or Cli type.</summary>
    internal static IEnumerable<Offence> ModuleToUiOffences(IEnumerable<TypeFacts> types) =>
        Pairs(types, DmsCode.IsModule, (_, to) => to.Area is DmsCode.Ui or DmsCode.Pages or DmsCode.Cli);

    /// <summary>From another module, only its facade: the types of its root namespace Dms.Modules.Y.</summary>
    internal static IEnumerable<Offence> FacadeOffences(IEnumerable<TypeFacts> types) =>
        Pairs(types, DmsCode.IsModule, (from, to) => DmsCode.IsModule(to.Area) && to.Area != from && to.Type.Namespace != "Dms.Modules." + to.Area
            && !IsBulkActionSeam(to.Type));

    /// <summary>
    /// The bulk action seam (issue 16): a module that owns a single-document use case registers an <c>IBulkAction</c> for it,
    /// returning a <c>BulkItemResult</c>; those types (and only those) of Documents.Bulk may be used from another module.
    /// </summary>
    private static bool IsBulkActionSeam(TypeName type) =>
        type.Namespace == "Dms.Modules.Documents.Bulk" && type.Name is "IBulkAction" or "BulkItemResult" or "BulkItemOutcome";

    /// <summary>Pages call typed handlers: never a minimal-API endpoint class, never an IResult to unwrap.</summary>
    internal static IEnumerable<Offence> PageEndpointOffences(IEnumerable<TypeFacts> types) =>
        Pairs(types, from => from == DmsCode.Pages, (_, to) => IsEndpointOrHttpResult(to.Type));

    /// <summary>SQL held by an endpoint class or a page (its strings, compiler-generated nested types included).</summary>
    internal static IEnumerable<string> SqlHolders(IEnumerable<TypeFacts> types) =>
        types.Where(t => IsEndpoint(t.Type) || DmsCode.AreaOf(t.Type) == DmsCode.Pages)
            .SelectMany(t => t.Strings.Where(s => SqlKeyword().IsMatch(s.Value)).DistinctBy(s => s.Value).Select(s => $"{t.Type} ({s.Member}): {OneLine(s.Value)}"));

    [Fact]
    public void Platform_depends_on_no_module_and_no_ui()
    {
        var offences = PlatformOffences(DmsCode.Types).ToList();
        // The same rule through NetArchTest, as a second reader of the IL. It names failing types, not pairs, and sees less:
        // on the code of d478689 it missed ProblemResponses -> Ui.ErrorPages (a call in an exception filter of a lambda).
        var netArch = Types.InAssembly(typeof(Program).Assembly).That().ResideInNamespace("Dms.Platform")
            .ShouldNot().HaveDependencyOnAny("Dms.Modules", "Dms.Ui", "Dms.Pages", "Dms.Cli").GetResult().FailingTypeNames ?? [];

        offences.Count.ShouldBe(0, Report("Platform -> module/UI dependencies", offences) + NetArchSays(netArch));
        netArch.ShouldBeEmpty("NetArchTest: Platform types that depend on a module or the UI");
    }

    [Fact]
    public void Modules_depend_on_no_ui_and_no_cli()
    {
        var offences = ModuleToUiOffences(DmsCode.Types).ToList();
        var netArch = Types.InAssembly(typeof(Program).Assembly).That().ResideInNamespace("Dms.Modules")
            .ShouldNot().HaveDependencyOnAny("Dms.Ui", "Dms.Pages", "Dms.Cli").GetResult().FailingTypeNames ?? [];

        offences.Count.ShouldBe(0, Report("module -> UI/CLI dependencies", offences) + NetArchSays(netArch));
        netArch.ShouldBeEmpty("NetArchTest: module types that depend on the UI or the CLI");
    }

    [Fact]
    public void Modules_use_each_other_only_through_their_facades()
    {
        DmsCode.Modules.ShouldContain("Documents"); // the module list is read from the assembly; make sure it was
        var offences = FacadeOffences(DmsCode.Types).ToList();
        offences.Count.ShouldBe(0, Report("module -> another module's non-facade type dependencies", offences));
    }

    [Fact]
    public void Pages_call_no_endpoint_and_unwrap_no_IResult()
    {
        var offences = PageEndpointOffences(DmsCode.Types).ToList();
        var calls = DmsCode.Types.Where(t => DmsCode.AreaOf(t.Type) == DmsCode.Pages).SelectMany(t => t.Calls).Count(c => IsEndpoint(c.Type));
        offences.Count.ShouldBe(0, $"{calls} calls of endpoint methods; " + Report("page -> endpoint/IResult dependencies", offences));
    }

    [Fact]
    public void Endpoints_and_pages_hold_no_SQL()
    {
        var sql = SqlHolders(DmsCode.Types).ToList();
        sql.Count.ShouldBe(0, $"{sql.Count} SQL strings in endpoint classes and pages:{Environment.NewLine}{string.Join(Environment.NewLine, sql)}");
    }

    // The keywords that start or shape a statement, in capitals as this code base writes SQL.
    [GeneratedRegex(@"\b(?:SELECT\s|INSERT\s+INTO\b|UPDATE\s|DELETE\s+FROM\b)")]
    private static partial Regex SqlKeyword();

    private static bool IsEndpoint(TypeName t) =>
        t.Namespace.StartsWith("Dms.", StringComparison.Ordinal)
        && (t.Name.EndsWith("Endpoint", StringComparison.Ordinal) || t.Name.EndsWith("Endpoints", StringComparison.Ordinal));

    private static bool IsEndpointOrHttpResult(TypeName t) =>
        IsEndpoint(t)
        || (t.Namespace == "Microsoft.AspNetCore.Http" && t.Name is "IResult" or "IValueHttpResult" or "IValueHttpResult`1")
        || t.Namespace == "Microsoft.AspNetCore.Http.HttpResults";

    private sealed record Target(TypeName Type, string? Area);

    private static IEnumerable<Offence> Pairs(IEnumerable<TypeFacts> types, Func<string?, bool> fromArea, Func<string?, Target, bool> offends) =>
        types.Where(t => fromArea(DmsCode.AreaOf(t.Type)))
            .SelectMany(t => t.Uses
                .Where(u => offends(DmsCode.AreaOf(t.Type), new Target(u, DmsCode.AreaOf(u))))
                .Select(u => new Offence(t.Type, u)))
            .OrderBy(o => o.From.FullName, StringComparer.Ordinal)
            .ThenBy(o => o.To.FullName, StringComparer.Ordinal);

    private static string Report(string what, List<Offence> offences)
    {
        var perArea = string.Join(", ", offences.GroupBy(o => DmsCode.AreaOf(o.From)).Select(g => $"{g.Key} {g.Count()}"));
        return $"{offences.Count} {what} from {offences.Select(o => o.From).Distinct().Count()} types ({perArea}):{Environment.NewLine}"
            + string.Join(Environment.NewLine, offences);
    }

    private static string NetArchSays(IEnumerable<string> failing) =>
        $"{Environment.NewLine}NetArchTest's failing types: {string.Join(", ", failing)}";

    private static string OneLine(string s)
    {
        var flat = string.Join(' ', s.Split((char[])['\n', '\r', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
        return flat.Length > 100 ? flat[..100] + "…" : flat;
    }
}
