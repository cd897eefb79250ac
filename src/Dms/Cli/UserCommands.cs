using Dms.Modules.Access.Login;
using Dms.Modules.Access.Passwords;
using Dms.Modules.Access.Tenants;
using Dms.Platform.Database;
using Microsoft.AspNetCore.Identity;
using Npgsql;

namespace Dms.Cli;

/// <summary>
/// <c>dms user reset-password --tenant SLUG --email EMAIL</c>: for an operator whose tenant has no admin left who can
/// sign in (a lost first password, a locked-out sole admin). Prints a temporary password once; it must be changed at
/// the next sign-in. Runs against the same database as the server, also while it runs.
/// </summary>
internal static class UserCommands
{
    public const string Usage = "usage: dotnet run --project src/Dms -- user reset-password --tenant SLUG --email EMAIL";

    public static bool IsCommand(string[] args) => args.Length > 0 && args[0] == "user";

    public static async Task<int> RunAsync(string[] args, IServiceProvider services)
    {
        var options = args.Length >= 2 && args[1] == "reset-password" ? TenantCommands.ParseOptions(args[2..]) : null;
        if (options is null || !options.TryGetValue("--tenant", out var tenant) || !options.TryGetValue("--email", out var email))
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }
        // As the schema owner: no signed-in admin exists to act as, and the reset is audited as the command line.
        await using var conn = new NpgsqlConnection(services.GetRequiredService<DatabaseConnections>().Owner);
        await conn.OpenAsync();
        var temporary = await PasswordStore.ResetFromCliAsync(conn, services.GetRequiredService<IPasswordHasher<UserAccount>>(),
            services.GetRequiredService<LoginThrottle>(), services.GetRequiredService<Dms.Modules.Access.AccountChanges>(), tenant, email, CancellationToken.None);
        if (temporary is null)
        {
            await Console.Error.WriteLineAsync($"dms: no user '{email}' in tenant '{tenant}'.");
            return 1;
        }
        await Console.Out.WriteLineAsync($"Temporary password for {email.Trim()} in '{tenant.Trim().ToLowerInvariant()}': {temporary}");
        await Console.Out.WriteLineAsync("It is shown only once and must be changed at the next sign-in.");
        return 0;
    }
}
