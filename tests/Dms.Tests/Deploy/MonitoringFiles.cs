using System.Text.Json;
using System.Text.RegularExpressions;
using Dms.Tests.Architecture;
using YamlDotNet.RepresentationModel;

namespace Dms.Tests.Deploy;

/// <summary>Reads the monitoring files (deploy/prometheus, deploy/grafana, docs/observability.md) and finds the metric
/// names their PromQL uses.</summary>
internal static partial class MonitoringFiles
{
    public const string AlertsFile = "deploy/prometheus/alerts.yml";
    public const string RecordingFile = "deploy/prometheus/recording.yml";
    public const string RuleTestsFolder = "deploy/prometheus/tests";
    public const string DashboardsFolder = "deploy/grafana/dashboards";
    public const string ObservabilityDoc = "docs/observability.md";

    public static string Path(string relative) => System.IO.Path.Combine(DmsCode.RepoRoot, relative);

    public static string Read(string relative) => File.ReadAllText(Path(relative));

    /// <summary>A rule of a Prometheus rule file: an alert (Alert set) or a recording rule (Record set).</summary>
    public sealed record Rule(string? Alert, string? Record, string Expr, IReadOnlyDictionary<string, string> Labels,
        IReadOnlyDictionary<string, string> Annotations)
    {
        public string Name => Alert ?? Record ?? "?";
    }

    public static IReadOnlyList<Rule> Rules(string yaml)
    {
        var rules = new List<Rule>();
        foreach (var group in Sequence(Root(yaml), "groups"))
        {
            foreach (var rule in Sequence((YamlMappingNode)group, "rules").Cast<YamlMappingNode>())
            {
                rules.Add(new Rule(Scalar(rule, "alert"), Scalar(rule, "record"), Scalar(rule, "expr") ?? "",
                    Map(rule, "labels"), Map(rule, "annotations")));
            }
        }
        return rules;
    }

    /// <summary>One alert_rule_test case of a promtool test file: which alert, at what time, and whether any alert is expected.</summary>
    public sealed record AlertCase(string File, string Alert, string EvalTime, bool ExpectsFiring);

    public static IReadOnlyList<AlertCase> AlertCases(string file, string yaml, out IReadOnlyList<string> ruleFiles)
    {
        var root = Root(yaml);
        ruleFiles = Sequence(root, "rule_files").Select(n => ((YamlScalarNode)n).Value ?? "").ToList();
        var cases = new List<AlertCase>();
        foreach (var test in Sequence(root, "tests").Cast<YamlMappingNode>())
        {
            foreach (var c in Sequence(test, "alert_rule_test").Cast<YamlMappingNode>())
            {
                cases.Add(new AlertCase(file, Scalar(c, "alertname") ?? "", Scalar(c, "eval_time") ?? "", Sequence(c, "exp_alerts").Any()));
            }
        }
        return cases;
    }

    /// <summary>Every exported name listed in the "## Metrics" section of docs/observability.md: the code span of each
    /// table row's first cell; a histogram row stands for its _bucket, _sum and _count series; names with '*' (a family
    /// not listed one by one) are left out, so rules and dashboards cannot lean on them.</summary>
    public static IReadOnlySet<string> DocumentedMetricNames(string markdown)
    {
        var start = markdown.IndexOf("\n## Metrics", StringComparison.Ordinal);
        if (start < 0)
        {
            throw new InvalidOperationException("No '## Metrics' section in the observability document.");
        }
        var end = markdown.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? markdown[start..] : markdown[start..end];
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in section.Split('\n'))
        {
            var cells = line.Split('|');
            if (cells.Length < 4 || !cells[0].Trim().Equals("", StringComparison.Ordinal))
            {
                continue;
            }
            var name = NameCell().Match(cells[1]);
            if (!name.Success || name.Groups[1].Value.Contains('*', StringComparison.Ordinal))
            {
                continue;
            }
            var metric = name.Groups[1].Value;
            if (cells[2].Trim().Equals("histogram", StringComparison.Ordinal))
            {
                names.UnionWith([metric + "_bucket", metric + "_sum", metric + "_count"]);
            }
            else
            {
                names.Add(metric);
            }
        }
        return names;
    }

    /// <summary>The names the rules and dashboards may use: the documented ones, the recording rules' own, and Prometheus' <c>up</c>.</summary>
    public static IReadOnlySet<string> KnownNames()
    {
        var known = new HashSet<string>(DocumentedMetricNames(Read(ObservabilityDoc)), StringComparer.Ordinal) { "up" };
        known.UnionWith(Rules(Read(RecordingFile)).Select(r => r.Record).OfType<string>());
        return known;
    }

    private static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
        "atan2", "inf", "nan",
    };

    /// <summary>The metric names a PromQL expression selects: identifiers that are not functions, aggregations,
    /// keywords, label names (in matchers or by/without/on/ignoring/group lists), strings, numbers, durations or
    /// Grafana variables.</summary>
    public static IReadOnlyList<string> MetricNames(string promql)
    {
        var s = Strings().Replace(promql, " ");
        s = GrafanaVariables().Replace(s, " ");
        s = Matchers().Replace(s, " ");
        s = Ranges().Replace(s, " ");
        s = LabelLists().Replace(s, " ");
        return Identifiers().Matches(s).Select(m => m.Value).Where(v => !Keywords.Contains(v)).Distinct().ToList();
    }

    /// <summary>The names an expression uses that are not in <paramref name="known"/>.</summary>
    public static IReadOnlyList<string> UnknownNames(string promql, IReadOnlySet<string> known) =>
        MetricNames(promql).Where(n => !known.Contains(n)).ToList();

    /// <summary>Every PromQL query of a Grafana dashboard: each target's <c>expr</c> (in panels and rows) and each
    /// Prometheus query variable (the metric part of <c>label_values(metric, label)</c>), with where it is.</summary>
    public static IReadOnlyList<(string Where, string Expr)> DashboardQueries(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var found = new List<(string, string)>();
        if (doc.RootElement.TryGetProperty("panels", out var panels))
        {
            CollectExprs(panels, "panel", found);
        }
        if (doc.RootElement.TryGetProperty("templating", out var templating) && templating.TryGetProperty("list", out var list))
        {
            foreach (var variable in list.EnumerateArray())
            {
                if (variable.GetProperty("type").GetString() != "query")
                {
                    continue;
                }
                var query = variable.GetProperty("query");
                var text = query.ValueKind == JsonValueKind.Object ? query.GetProperty("query").GetString() : query.GetString();
                var where = $"variable {variable.GetProperty("name").GetString()}";
                var labelValues = LabelValues().Match(text ?? "");
                if (labelValues.Success)
                {
                    found.Add((where, labelValues.Groups[1].Value));
                }
                else if (!string.IsNullOrWhiteSpace(text) && !text.StartsWith("label_names(", StringComparison.Ordinal)
                         && !text.StartsWith("label_values(", StringComparison.Ordinal))
                {
                    found.Add((where, QueryResult().Replace(text, "$1")));
                }
            }
        }
        return found;
    }

    private static void CollectExprs(JsonElement element, string where, List<(string, string)> found)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                if (element.TryGetProperty("title", out var title) && title.ValueKind == JsonValueKind.String)
                {
                    where = $"panel '{title.GetString()}'";
                }
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == "expr" && property.Value.ValueKind == JsonValueKind.String)
                    {
                        found.Add((where, property.Value.GetString() ?? ""));
                    }
                    else
                    {
                        CollectExprs(property.Value, where, found);
                    }
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CollectExprs(item, where, found);
                }
                break;
            default:
                break;
        }
    }

    private static YamlMappingNode Root(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static IEnumerable<YamlNode> Sequence(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlSequenceNode sequence ? sequence.Children : [];

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static Dictionary<string, string> Map(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlMappingNode map
            ? map.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => (kv.Value as YamlScalarNode)?.Value ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);

    [GeneratedRegex(@"^\s*`([^`]+)`\s*$")]
    private static partial Regex NameCell();

    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""|'(?:[^'\\]|\\.)*'|`[^`]*`")]
    private static partial Regex Strings();

    [GeneratedRegex(@"\$\{[^}]*\}|\$\w+")]
    private static partial Regex GrafanaVariables();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Matchers();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Ranges();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", RegexOptions.IgnoreCase)]
    private static partial Regex LabelLists();

    // An identifier not glued to a number (1e3, 5m, 0x1F) and not called like a function or an aggregation.
    [GeneratedRegex(@"(?<![\w:.])(?>[a-zA-Z_:][a-zA-Z0-9_:]*)(?!\s*\()")]
    private static partial Regex Identifiers();

    [GeneratedRegex(@"^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"^\s*query_result\((.*)\)\s*$")]
    private static partial Regex QueryResult();
}
