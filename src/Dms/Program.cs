using Dms.Cli;
using Dms.Modules.Access;
using Dms.Modules.Access.Tenants;
using Dms.Modules.Approvals;
using Dms.Modules.Audit;
using Dms.Modules.Billing;
using Dms.Modules.Documents;
using Dms.Modules.Notifications;
using Dms.Modules.Webhooks;
using Dms.Platform;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Ui;

// One deployable: the REST API, the web UI and the background worker, and CLI verbs.
if (args is [Dms.Modules.Documents.Text.OfficeText.Verb, ..]) { return await Dms.Modules.Documents.Text.OfficeText.RunChildAsync(args); } // a child process of text extraction: no host, no database
var cliCommand = TenantCommands.IsCommand(args) || UserCommands.IsCommand(args) || (args.Length > 0 && args[0] == "outbox");
var hostArgs = cliCommand ? [] : args;

var builder = WebApplication.CreateBuilder(hostArgs);
builder.Configuration.AddCommandLine(hostArgs, new Dictionary<string, string> { ["--role"] = "Dms:Role" });
if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["http_ports"]))
{
    builder.WebHost.UseUrls("http://localhost:5080");
}
// The UI's wwwroot from the build output too (dotnet bin/.../Dms.dll, test fixtures); a publish copies it.
builder.WebHost.UseStaticWebAssets();
var configuredRole = builder.Configuration["Dms:Role"] ?? "all";
var runBackgroundWork = !cliCommand && configuredRole is "all" or "worker";
builder.AddPlatform(runBackgroundWork);
builder.Services.AddAccess();
builder.Services.AddDocuments(runBackgroundWork);
builder.Services.AddApprovals(runBackgroundWork);
builder.Services.AddNotifications(runBackgroundWork);
builder.Services.AddWebhooks(runBackgroundWork);
builder.Services.AddBilling(runBackgroundWork);
builder.Services.AddAudit(runBackgroundWork);
builder.Services.AddUi();

var app = builder.Build();
var role = app.Configuration["Dms:Role"] ?? "all";
if (role is not ("all" or "api" or "worker"))
{
    await Console.Error.WriteLineAsync($"dms: --role must be all, api or worker (got '{role}').");
    return 2;
}

try
{
    var bootstrap = ActivatorUtilities.CreateInstance<Bootstrap>(app.Services);
    await app.Services.GetRequiredService<DatabaseStartup>().StartAsync(bootstrap.RunAsync, app.Lifetime.ApplicationStopping);
    app.Services.GetRequiredService<Dms.Platform.Security.SigningKey>();
    app.Services.GetRequiredService<AuditCheckpointKey>();
    if (app.Services.GetRequiredService<Dms.Platform.Storage.IBlobStore>() is Dms.Platform.Storage.InstrumentedBlobStore { Inner: Dms.Platform.Storage.S3BlobStore s3 })
    {
        var storage = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DmsOptions>>().Value.Storage;
        await s3.EnsureBucketAsync(storage.S3.CreateBucket, app.Lifetime.ApplicationStopping);
    }
}
catch (StartupException ex)
{
    await Console.Error.WriteLineAsync($"dms: {ex.Message}");
    await app.DisposeAsync();
    return 1;
}
catch (Npgsql.NpgsqlException ex)
{
    // A database failure past the bounded waits (a connection dropped mid-migration): one line, no stack dump.
    await Console.Error.WriteLineAsync($"dms: database error during start-up: {DatabaseWait.OneLine(ex)}");
    await app.DisposeAsync();
    return 1;
}

if (cliCommand)
{
    var exit = args[0] == "outbox"
        ? await Dms.Platform.Outbox.OutboxAdmin.RunCliAsync(args, app.Services)
        : UserCommands.IsCommand(args)
            ? await UserCommands.RunAsync(args, app.Services)
            : await TenantCommands.RunAsync(args, app.Services);
    await app.DisposeAsync();
    return exit;
}

app.UsePlatform();
app.MapPlatform();
if (role is "all" or "api")
{
    app.MapAccess();
    app.MapDocuments();
    app.MapApprovals();
    app.MapNotifications();
    app.MapWebhooks();
    app.MapBilling();
    app.MapAudit();
    app.MapOutboxAdmin();
    app.MapUi();
}
await app.RunAsync();
return 0;

/// <summary>Entry point type, visible to the functional tests' WebApplicationFactory.</summary>
public partial class Program;
