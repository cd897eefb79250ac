using System.Text.RegularExpressions;
using Dms.Tests.Architecture;
using Shouldly;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace Dms.Tests.Deploy;

/// <summary>
/// The deployment files, checked without Docker or Helm (neither runs on the build machines): the compose file and
/// the chart parse, name what the app needs, use settings the app knows, and carry no secret; the Dockerfile builds
/// in stages and runs as a non-root user with a health check.
/// </summary>
public sealed partial class DeploymentFilesTests
{
    private static string Root => DmsCode.RepoRoot;
    private static string ComposeDir => Path.Combine(Root, "deploy", "compose");
    private static string ChartDir => Path.Combine(Root, "deploy", "helm", "dms");

    // Environment names that carry a secret (or a connection string, which holds a password).
    [GeneratedRegex("password|secret|token|apikey|signingkey|checkpointkey|accesskey|connectionstrings", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"^\$\{[A-Z0-9_]+(:?[?-][^}]*)?\}$")]
    private static partial Regex WholeInterpolation();

    [GeneratedRegex(@"\$\{([A-Z0-9_]+)(:?[?-][^}]*)?\}")]
    private static partial Regex Interpolation();

    [GeneratedRegex(@"Password=([^;]*)", RegexOptions.IgnoreCase)]
    private static partial Regex ConnectionStringPassword();

    // ---- compose ----

    [Fact]
    public void Compose_runs_postgres_s3_two_api_nodes_one_worker_and_nginx()
    {
        var services = Services();
        services.Keys.ShouldBe(["postgres", "s3", "api1", "api2", "worker", "nginx"], ignoreOrder: true);

        Role(services["api1"]).ShouldBe("api");
        Role(services["api2"]).ShouldBe("api");
        Role(services["worker"]).ShouldBe("worker");
        services.Values.Count(s => Role(s) == "api").ShouldBe(2);
        Str(services["postgres"], "image").ShouldStartWith("postgres:");

        foreach (var node in new[] { "api1", "api2", "worker" })
        {
            var env = Map(services[node], "environment");
            Str(env, "Dms__Storage__Provider").ShouldBe("S3");
            Str(env, "ConnectionStrings__Dms").ShouldContain("Host=postgres");
            Str(env, "ConnectionStrings__DmsOwner").ShouldContain("Username=dms_owner");
            Str(env, "Dms__Management__Urls").ShouldBe("http://0.0.0.0:9090");
            var dependsOn = Map(services[node], "depends_on");
            Str(Map(dependsOn, "postgres"), "condition").ShouldBe("service_healthy");
            Str(Map(dependsOn, "s3"), "condition").ShouldBe("service_healthy");
        }
        // The nodes share the UI's key ring, or a cookie issued by one node is rejected by the other.
        Str(Map(services["api1"], "environment"), "Dms__Ui__KeysDirectory").ShouldBe("/var/lib/dms/ui-keys");
        List(services["api1"], "volumes").ShouldContain("ui-keys:/var/lib/dms/ui-keys");
        List(services["api2"], "volumes").ShouldContain("ui-keys:/var/lib/dms/ui-keys");
    }

    [Fact]
    public void Every_compose_service_has_a_health_check_and_nginx_waits_for_ready_api_nodes()
    {
        var services = Services();
        foreach (var (name, service) in services)
        {
            List(Map(service, "healthcheck"), "test").ShouldNotBeEmpty($"service {name} has no health check");
        }
        string.Join(' ', List(Map(services["api1"], "healthcheck"), "test")).ShouldContain("/health/ready");
        string.Join(' ', List(Map(services["api2"], "healthcheck"), "test")).ShouldContain("/health/ready");
        string.Join(' ', List(Map(services["worker"], "healthcheck"), "test")).ShouldContain("/health/live");

        var nginxDependsOn = Map(services["nginx"], "depends_on");
        Str(Map(nginxDependsOn, "api1"), "condition").ShouldBe("service_healthy");
        Str(Map(nginxDependsOn, "api2"), "condition").ShouldBe("service_healthy");
        List(services["nginx"], "volumes").ShouldContain("./nginx.conf:/etc/nginx/nginx.conf:ro");
        File.Exists(Path.Combine(ComposeDir, "nginx.conf")).ShouldBeTrue();
        File.Exists(Path.Combine(ComposeDir, "postgres-init.sh")).ShouldBeTrue();
    }

    [Fact]
    public void Nginx_balances_over_both_api_nodes_and_keeps_metrics_private()
    {
        var conf = File.ReadAllText(Path.Combine(ComposeDir, "nginx.conf"));
        conf.ShouldContain("server api1:8080");
        conf.ShouldContain("server api2:8080");
        conf.ShouldContain("max_fails=");
        conf.ShouldContain("proxy_pass http://dms_api;");
        conf.ShouldContain("proxy_next_upstream ");
        conf.ShouldContain("location = /metrics");
        conf.Count(c => c == '{').ShouldBe(conf.Count(c => c == '}'));
        // The nodes believe forwarded headers from nginx's fixed address only.
        var nginxAddress = Str(Map(Map(Services()["nginx"], "networks"), "dms"), "ipv4_address");
        Str(Map(Services()["api1"], "environment"), "Dms__Http__KnownProxies").ShouldBe(nginxAddress);
    }

    [Fact]
    public void Compose_secrets_come_from_the_env_file_and_none_is_written_inline()
    {
        var offenders = new List<string>();
        foreach (var (name, service) in Services())
        {
            if (!(service as Dictionary<string, object?>)!.ContainsKey("environment"))
            {
                continue;
            }
            foreach (var (key, raw) in Map(service, "environment"))
            {
                var value = raw as string ?? "";
                if (key.StartsWith("ConnectionStrings__", StringComparison.Ordinal))
                {
                    var password = ConnectionStringPassword().Match(value);
                    if (!password.Success || !WholeInterpolation().IsMatch(password.Groups[1].Value))
                    {
                        offenders.Add($"{name}.{key}");
                    }
                }
                else if (SecretName().IsMatch(key) && !key.EndsWith("_FILE", StringComparison.Ordinal) && value.Length > 0 && !WholeInterpolation().IsMatch(value))
                {
                    offenders.Add($"{name}.{key}");
                }
            }
        }
        offenders.ShouldBeEmpty();

        // Every required variable (${VAR:?…}) is listed in .env.example, with no value for the secret ones.
        var compose = string.Join('\n', File.ReadAllLines(Path.Combine(ComposeDir, "compose.yml")).Where(l => !l.TrimStart().StartsWith('#')));
        var example = File.ReadAllLines(Path.Combine(ComposeDir, ".env.example"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1]);
        var required = Interpolation().Matches(compose).Where(m => m.Groups[2].Value.StartsWith(":?", StringComparison.Ordinal))
            .Select(m => m.Groups[1].Value).Distinct().ToList();
        required.ShouldNotBeEmpty();
        foreach (var variable in required)
        {
            example.ShouldContainKey(variable);
        }
        example.Where(e => SecretName().IsMatch(e.Key) || e.Key.EndsWith("_KEY", StringComparison.Ordinal))
            .Where(e => e.Value.Length > 0).Select(e => e.Key).ShouldBeEmpty();
        File.ReadAllText(Path.Combine(Root, ".gitignore")).ShouldContain("deploy/compose/.env");
    }

    [Fact]
    public void Compose_and_chart_name_only_settings_the_app_documents()
    {
        var documented = File.ReadAllText(Path.Combine(Root, "docs", "configuration.md"));
        string[] pending = [];
        var names = Services().Values.OfType<Dictionary<string, object?>>()
            .Where(s => s.ContainsKey("environment"))
            .SelectMany(s => Map(s, "environment").Keys)
            .Concat(Map(Values(), "config").Keys)
            .Concat(Map(Map(Values(), "secret"), "values").Keys)
            .Where(k => k.StartsWith("Dms__", StringComparison.Ordinal) || k.StartsWith("ConnectionStrings__", StringComparison.Ordinal))
            .Distinct()
            .ToList();
        names.ShouldNotBeEmpty();
        names.Where(n => !pending.Contains(n) && !documented.Contains($"`{n}`", StringComparison.Ordinal) && !Documented(documented, n))
            .ShouldBeEmpty();
    }

    // configuration.md lists families in one row: `Dms__Storage__S3__AccessKey` / `__SecretKey`, or `…__Bucket`.
    private static bool Documented(string doc, string name)
    {
        var cut = name.LastIndexOf("__", StringComparison.Ordinal);
        return doc.Contains($"`{name[cut..]}`", StringComparison.Ordinal) && doc.Contains($"`{name[..cut]}", StringComparison.Ordinal);
    }

    // ---- Dockerfile ----

    [Fact]
    public void Dockerfile_builds_in_stages_and_runs_as_a_non_root_user_with_a_health_check()
    {
        var lines = DockerInstructions();
        var froms = lines.Where(l => l.Op == "FROM").ToList();
        froms.Count.ShouldBeGreaterThanOrEqualTo(2);
        froms[0].Args.ShouldContain("mcr.microsoft.com/dotnet/sdk:");
        froms[^1].Args.ShouldContain("mcr.microsoft.com/dotnet/aspnet:");
        lines.ShouldContain(l => l.Op == "RUN" && l.Args.Contains("dotnet publish", StringComparison.Ordinal) && l.Args.Contains("-c Release", StringComparison.Ordinal));
        lines.ShouldContain(l => l.Op == "COPY" && l.Args.StartsWith("--from=build", StringComparison.Ordinal));

        var final = lines.SkipWhile(l => l != froms[^1]).ToList();
        var user = final.LastOrDefault(l => l.Op == "USER");
        user.ShouldNotBeNull("the runtime stage sets no USER: it would run as root");
        var uid = user.Args.Split(':')[0];
        uid.ShouldNotBeOneOf("root", "0");

        var health = final.SingleOrDefault(l => l.Op == "HEALTHCHECK");
        health.ShouldNotBeNull();
        health.Args.ShouldContain("/health/live");
        // The path the app really maps.
        File.ReadAllText(Path.Combine(Root, "src", "Dms", "Platform", "PlatformServices.cs")).ShouldContain("MapHealthChecks(\"/health/live\"");

        final.ShouldContain(l => l.Op == "ENTRYPOINT" && l.Args.Contains("Dms.dll", StringComparison.Ordinal));
        var install = string.Join(' ', final.Where(l => l.Op == "RUN").Select(l => l.Args));
        foreach (var package in new[] { "poppler-utils", "tesseract-ocr", "tesseract-ocr-eng", "libvips-tools", "libreoffice-writer-nogui", "util-linux" })
        {
            install.ShouldContain(package);
        }
    }

    [Fact]
    public void Dockerfile_bakes_in_no_secret()
    {
        var offenders = DockerInstructions()
            .Where(l => l.Op is "ENV" or "ARG")
            .SelectMany(l => Regex.Matches(l.Args, @"([A-Za-z_][A-Za-z0-9_]*)=(\S*)").Select(m => (Name: m.Groups[1].Value, Value: m.Groups[2].Value)))
            .Where(e => SecretName().IsMatch(e.Name) && e.Value.Length > 0)
            .ToList();
        offenders.ShouldBeEmpty();
        DockerInstructions().ShouldNotContain(l => l.Op == "COPY" && l.Args.Contains(".env", StringComparison.Ordinal));

        var ignore = File.ReadAllLines(Path.Combine(Root, ".dockerignore"));
        ignore.ShouldContain("**/bin/");
        ignore.ShouldContain("**/obj/");
        ignore.ShouldContain("**/.env");
        ignore.ShouldContain(".git/");
    }

    // ---- Helm chart ----

    [Fact]
    public void Chart_templates_are_balanced_and_every_value_they_read_is_in_values_yaml()
    {
        var values = Values();
        var missing = new List<string>();
        foreach (var file in Directory.GetFiles(Path.Combine(ChartDir, "templates")))
        {
            var text = File.ReadAllText(file);
            var name = Path.GetFileName(file);
            Regex.Count(text, @"\{\{").ShouldBe(Regex.Count(text, @"\}\}"), name);
            var opened = Regex.Count(text, @"\{\{-?\s*(if|range|with|define|block)\b");
            var closed = Regex.Count(text, @"\{\{-?\s*end\s*-?\}\}");
            closed.ShouldBe(opened, $"{name}: {opened} blocks opened, {closed} ended");
            foreach (Match m in Regex.Matches(text, @"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)"))
            {
                object? node = values;
                foreach (var part in m.Groups[1].Value.Split('.', StringSplitOptions.RemoveEmptyEntries))
                {
                    node = node is Dictionary<string, object?> map && map.TryGetValue(part, out var next) ? next : null;
                    if (node is null)
                    {
                        missing.Add($"{name}: .Values{m.Groups[1].Value}");
                        break;
                    }
                }
            }
        }
        missing.Distinct().ShouldBeEmpty();
        var chart = (Dictionary<string, object?>)Yaml(File.ReadAllText(Path.Combine(ChartDir, "Chart.yaml"))).Single()!;
        Str(chart, "apiVersion").ShouldBe("v2");
        Str(chart, "name").ShouldBe("dms");
    }

    [Fact]
    public void Chart_has_api_and_worker_deployments_service_ingress_config_secret_pdb_and_hpa()
    {
        var kinds = ChartObjects().Select(o => Str(o.Doc, "kind")).ToList();
        kinds.Count(k => k == "Deployment").ShouldBe(2);
        kinds.ShouldContain("Service");
        kinds.ShouldContain("Ingress");
        kinds.ShouldContain("ConfigMap");
        kinds.ShouldContain("Secret");
        kinds.ShouldContain("PodDisruptionBudget");
        kinds.ShouldContain("HorizontalPodAutoscaler");
        kinds.ShouldContain("PersistentVolumeClaim");

        var hpa = ChartObjects().Single(o => Str(o.Doc, "kind") == "HorizontalPodAutoscaler").Doc;
        Str(hpa, "apiVersion").ShouldBe("autoscaling/v2");
        Str(Map(Map(hpa, "spec"), "scaleTargetRef"), "name").ShouldEndWith("-api");
        var pdb = ChartObjects().First(o => Str(o.Doc, "kind") == "PodDisruptionBudget").Doc;
        Str(pdb, "apiVersion").ShouldBe("policy/v1");

        var api = Map(Values(), "api");
        int.Parse(Str(Map(api, "autoscaling"), "minReplicas"), System.Globalization.CultureInfo.InvariantCulture).ShouldBeGreaterThanOrEqualTo(2);
        int.Parse(Str(Map(api, "podDisruptionBudget"), "minAvailable"), System.Globalization.CultureInfo.InvariantCulture).ShouldBe(1);
    }

    [Theory]
    [InlineData("deployment-api.yaml", "api")]
    [InlineData("deployment-worker.yaml", "worker")]
    public void Each_deployment_runs_its_role_with_probes_resources_and_a_non_root_user(string file, string role)
    {
        var deployment = ChartObjects().Single(o => o.File == file).Doc;
        var pod = Map(Map(Map(deployment, "spec"), "template"), "spec");
        var container = (Dictionary<string, object?>)List(pod, "containers").Single()!;
        List(container, "args").Cast<string>().ToArray().ShouldBe(new[] { "--role", role });

        Str(Map(Map(container, "livenessProbe"), "httpGet"), "path").ShouldContain(".Values.probes.liveness.path");
        Str(Map(Map(container, "readinessProbe"), "httpGet"), "path").ShouldContain(".Values.probes.readiness.path");
        Str(Map(Map(container, "startupProbe"), "httpGet"), "path").ShouldContain(".Values.probes.liveness.path");
        var probes = Map(Values(), "probes");
        Str(Map(probes, "liveness"), "path").ShouldBe("/health/live");
        Str(Map(probes, "readiness"), "path").ShouldBe("/health/ready");

        Map(container, "resources").Values.Single().ShouldBe($"toYaml .Values.{role}.resources | nindent 12");
        var resources = Map(Map(Values(), role), "resources");
        foreach (var bound in new[] { "requests", "limits" })
        {
            Map(resources, bound).Keys.ShouldBe(["cpu", "memory"], ignoreOrder: true);
        }

        Map(pod, "securityContext").Values.Single().ShouldBe("toYaml .Values.podSecurityContext | nindent 8");
        var podSecurity = Map(Values(), "podSecurityContext");
        Str(podSecurity, "runAsNonRoot").ShouldBe("true");
        Str(podSecurity, "runAsUser").ShouldNotBe("0");

        var envFrom = List(container, "envFrom").Cast<Dictionary<string, object?>>().ToList();
        envFrom.ShouldContain(e => e.ContainsKey("configMapRef"));
        envFrom.ShouldContain(e => e.ContainsKey("secretRef"));
        List(container, "ports").Cast<Dictionary<string, object?>>().Select(p => Str(p, "name")).ToArray().ShouldBe(new[] { "http", "management" });

        // Prometheus scrapes the management port: the annotations come from the shared helper.
        Map(Map(Map(Map(deployment, "spec"), "template"), "metadata"), "annotations").Values.ShouldContain("include \"dms.podAnnotations\" . | nindent 8");
    }

    [Fact]
    public void Chart_serves_metrics_on_the_management_port_and_commits_no_secret()
    {
        var helpers = File.ReadAllText(Path.Combine(ChartDir, "templates", "_helpers.tpl"));
        helpers.ShouldContain("prometheus.io/scrape: \"true\"");
        helpers.ShouldContain("prometheus.io/port: {{ .Values.ports.management | quote }}");
        Str(Map(Values(), "ports"), "management").ShouldBe("9090");
        var config = ChartObjects().Single(o => Str(o.Doc, "kind") == "ConfigMap").Doc;
        Map(config, "data").ShouldContainKey("Dms__Management__Urls");

        var secretValues = Map(Map(Values(), "secret"), "values");
        secretValues.Keys.ShouldContain("ConnectionStrings__Dms");
        secretValues.Keys.ShouldContain("Dms__Auth__SigningKey");
        secretValues.Where(v => (v.Value as string)?.Length > 0).Select(v => v.Key).ShouldBeEmpty();
        // Nothing secret-looking among the plain settings either.
        Map(Values(), "config").Keys.Where(k => SecretName().IsMatch(k)).ShouldBeEmpty();
    }

    // ---- helpers ----

    private sealed record DockerLine(string Op, string Args);

    private static List<DockerLine> DockerInstructions()
    {
        var result = new List<DockerLine>();
        var pending = "";
        foreach (var raw in File.ReadAllLines(Path.Combine(Root, "deploy", "docker", "Dockerfile")))
        {
            var line = raw.Trim();
            if (pending.Length == 0 && (line.Length == 0 || line.StartsWith('#')))
            {
                continue;
            }
            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }
            var full = (pending + line).Trim();
            pending = "";
            var space = full.IndexOf(' ', StringComparison.Ordinal);
            result.Add(new DockerLine(full[..space].ToUpperInvariant(), full[(space + 1)..].Trim()));
        }
        return result;
    }

    private static Dictionary<string, object?> Services() =>
        Map((Dictionary<string, object?>)Yaml(File.ReadAllText(Path.Combine(ComposeDir, "compose.yml"))).Single()!, "services");

    private static Dictionary<string, object?> Values() =>
        (Dictionary<string, object?>)Yaml(File.ReadAllText(Path.Combine(ChartDir, "values.yaml"))).Single()!;

    private static string? Role(object? service) =>
        (service as Dictionary<string, object?>)?.GetValueOrDefault("command") is List<object?> command
            && command.IndexOf("--role") is var i and >= 0 && i + 1 < command.Count
            ? command[i + 1] as string
            : null;

    /// <summary>
    /// Every object of the chart's templates, read as YAML once the Go template actions are neutralised: a line that
    /// is only control flow (if, range, with, end) is dropped, a line that emits YAML (toYaml/include … | nindent N)
    /// becomes one placeholder key at that indent holding the action, an inline action becomes «action».
    /// </summary>
    private static List<(string File, Dictionary<string, object?> Doc)> ChartObjects()
    {
        var result = new List<(string, Dictionary<string, object?>)>();
        foreach (var file in Directory.GetFiles(Path.Combine(ChartDir, "templates"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var lines = new List<string>();
            var number = 0;
            foreach (var line in File.ReadAllLines(file))
            {
                number++;
                if (Regex.IsMatch(line, @"^\s*(\{\{.*?\}\}\s*)+$"))
                {
                    var action = Regex.Match(line, @"\{\{-?\s*(.*?)\s*-?\}\}").Groups[1].Value;
                    var indent = Regex.Match(action, @"nindent (\d+)");
                    if (indent.Success)
                    {
                        lines.Add($"{new string(' ', int.Parse(indent.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))}__template_{number}__: '{action.Replace("'", "''", StringComparison.Ordinal)}'");
                    }
                    continue;
                }
                lines.Add(Regex.Replace(line, @"\{\{-?\s*(.*?)\s*-?\}\}", "«$1»"));
            }
            foreach (var doc in Yaml(string.Join('\n', lines)).OfType<Dictionary<string, object?>>())
            {
                result.Add((Path.GetFileName(file), doc));
            }
        }
        return result;
    }

    /// <summary>YAML as dictionaries, lists and strings, with anchors resolved and merge keys (<c>&lt;&lt;</c>) applied.</summary>
    private static List<object?> Yaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Select(d => Plain(d.RootNode)).ToList();
    }

    private static object? Plain(YamlNode node) => node switch
    {
        YamlScalarNode scalar => scalar.Value,
        YamlSequenceNode sequence => sequence.Children.Select(Plain).ToList(),
        YamlMappingNode mapping => PlainMap(mapping),
        _ => throw new InvalidOperationException($"Unexpected YAML node {node.NodeType} at {node.Start}"),
    };

    private static Dictionary<string, object?> PlainMap(YamlMappingNode mapping)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping.Children)
        {
            var name = ((YamlScalarNode)key).Value!;
            if (name != "<<")
            {
                result[name] = Plain(value);
            }
        }
        if (mapping.Children.TryGetValue(new YamlScalarNode("<<"), out var merged))
        {
            foreach (var (key, value) in PlainMap((YamlMappingNode)merged))
            {
                result.TryAdd(key, value);
            }
        }
        return result;
    }

    private static Dictionary<string, object?> Map(object? parent, string key) =>
        ((Dictionary<string, object?>)parent!).GetValueOrDefault(key) as Dictionary<string, object?>
            ?? throw new ShouldAssertException($"'{key}' is not a mapping");

    private static List<object?> List(object? parent, string key) =>
        ((Dictionary<string, object?>)parent!).GetValueOrDefault(key) as List<object?>
            ?? throw new ShouldAssertException($"'{key}' is not a list");

    private static string Str(object? parent, string key) =>
        ((Dictionary<string, object?>)parent!).GetValueOrDefault(key) as string
            ?? throw new ShouldAssertException($"'{key}' is not a string");
}
