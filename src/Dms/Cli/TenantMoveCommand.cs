using System.Globalization;
using Dms.Modules.Audit;
using Dms.Platform.Database;

namespace Dms.Cli;

/// <summary>
/// <c>dms tenant move --tenant SLUG --to CONNECTION</c>: moves a tenant to a database of its own while it stays live
/// (docs/tenant-move.md, ADR 0036); <c>dms tenant unfreeze --tenant SLUG</c>: the runbook's way out of a move that died
/// frozen. Exit codes: 0 done, 1 refused or failed (rolled back), 2 usage.
/// </summary>
internal static class TenantMoveCommand
{
    public const string MoveUsage = "usage: dotnet run --project src/Dms -- tenant move --tenant SLUG --to \"Host=H;Port=P;Database=D;Username=OWNER;Password=…\"";
    public const string UnfreezeUsage = "usage: dotnet run --project src/Dms -- tenant unfreeze --tenant SLUG";

    /// <summary>Who the directory and the audit trail name for a command-line move (never a credential).</summary>
    private static string Actor => $"cli:{Environment.UserName}@{Environment.MachineName}";

    public static async Task<int> MoveAsync(string[] args, IServiceProvider services, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var options = TenantCommands.ParseOptions(args);
        if (options is null || !options.TryGetValue("--tenant", out var slug) || !options.TryGetValue("--to", out var to)
            || options.Keys.Any(k => k is not ("--tenant" or "--to")) || slug.Length == 0 || to.Length == 0)
        {
            await error.WriteLineAsync(MoveUsage);
            return 2;
        }
        var checkpoints = services.GetRequiredService<AuditCheckpoints>();
        try
        {
            var result = await services.GetRequiredService<TenantMover>().MoveAsync(slug, to, Actor,
                async (target, tenant, after, final, token) =>
                {
                    var (verified, last) = await AuditVerification.VerifyAsync(target, checkpoints, tenant, after, checkAnchor: final, token);
                    return new TenantMover.AuditCheckResult(verified.Valid ? null : verified.Problem ?? "invalid", last);
                },
                step => output.WriteLine($"dms: {step}"), ct);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"tenant moved: slug={slug} id={result.Tenant} from={result.From} to={result.To} tables={result.Tables} rows={result.Rows} total={result.Total.TotalSeconds:0.00}s frozen={result.Freeze.TotalSeconds:0.00}s"));
            return 0;
        }
        catch (TenantMoveException ex)
        {
            await error.WriteLineAsync($"dms: tenant move: {ex.Message}");
            return 1;
        }
    }

    public static async Task<int> UnfreezeAsync(string[] args, IServiceProvider services, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var options = TenantCommands.ParseOptions(args);
        if (options is null || !options.TryGetValue("--tenant", out var slug) || options.Count != 1)
        {
            await error.WriteLineAsync(UnfreezeUsage);
            return 2;
        }
        try
        {
            var unfrozen = await services.GetRequiredService<TenantMover>().UnfreezeAsync(slug, Actor, ct);
            await output.WriteLineAsync(unfrozen ? $"tenant unfrozen: slug={slug} (back in the main database)" : $"tenant {slug} was not frozen: nothing to do");
            return 0;
        }
        catch (TenantMoveException ex)
        {
            await error.WriteLineAsync($"dms: tenant unfreeze: {ex.Message}");
            return 1;
        }
    }
}
