using Dms.Modules.Access.Tenants;
using Dms.Platform.Http;
using Npgsql;

namespace Dms.Cli;

/// <summary>
/// Command-line verbs that run against the same database as the server:
/// <c>dms tenant create --slug S --name N --admin-email E --admin-password P</c>, <c>dms tenant move</c> and
/// <c>dms tenant unfreeze</c> (<see cref="TenantMoveCommand"/>).
/// </summary>
internal static class TenantCommands
{
    public const string Usage = "usage: dotnet run --project src/Dms -- tenant create --slug SLUG --name NAME --admin-email EMAIL --admin-password PASSWORD";

    public static bool IsCommand(string[] args) => args.Length > 0 && args[0] == "tenant";

    public static async Task<int> RunAsync(string[] args, IServiceProvider services)
    {
        if (args.Length >= 2 && args[1] == "move")
        {
            return await TenantMoveCommand.MoveAsync(args[2..], services, Console.Out, Console.Error, CancellationToken.None);
        }
        if (args.Length >= 2 && args[1] == "unfreeze")
        {
            return await TenantMoveCommand.UnfreezeAsync(args[2..], services, Console.Out, Console.Error, CancellationToken.None);
        }
        if (args.Length < 2 || args[1] != "create")
        {
            await Console.Error.WriteLineAsync($"{Usage}\n{TenantMoveCommand.MoveUsage}\n{TenantMoveCommand.UnfreezeUsage}");
            return 2;
        }
        var options = ParseOptions(args[2..]);
        if (options is null)
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }
        var request = new NewTenant(options.GetValueOrDefault("--slug", ""), options.GetValueOrDefault("--name", ""),
            options.GetValueOrDefault("--admin-email", ""), options.GetValueOrDefault("--admin-password", ""));
        try
        {
            await using var conn = await services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
            var tenant = await services.GetRequiredService<TenantProvisioning>().CreateAsync(conn, request, CancellationToken.None);
            await Console.Out.WriteLineAsync($"tenant created: id={tenant.Id} slug={tenant.Slug} admin={request.AdminEmail} defaultWorkspace={tenant.DefaultWorkspaceId}");
            return 0;
        }
        catch (ApiProblem problem)
        {
            var fields = problem.Errors is null ? "" : " " + string.Join(" ", problem.Errors.SelectMany(e => e.Value));
            await Console.Error.WriteLineAsync($"dms: {problem.Title}{fields}");
            return 1;
        }
    }

    internal static Dictionary<string, string>? ParseOptions(string[] args)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length || !args[i].StartsWith("--", StringComparison.Ordinal))
            {
                return null;
            }
            result[args[i]] = args[i + 1];
        }
        return result;
    }
}
