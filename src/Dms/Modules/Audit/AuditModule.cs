using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Audit;

internal static class AuditModule
{
    /// <summary>Checkpoint signing and store; every node chains recorded events (ADR 0038), worker nodes also anchor every tenant's chain head periodically (ADR 0012).</summary>
    public static IServiceCollection AddAudit(this IServiceCollection services, bool runBackgroundWork)
    {
        services.AddSingleton<AuditTrail>();
        services.AddSingleton<Platform.Security.IAuditLog, AuditLog>();
        services.AddSingleton<AuditCheckpointKey>();
        services.AddSingleton<AuditCheckpoints>();
        services.AddHandlersFrom(typeof(AuditModule).Namespace!);
        // Every node chains (ADR 0038): recorded events must not wait for a worker node to exist.
        services.AddSingleton<AuditChainer>();
        services.AddHostedService(sp => sp.GetRequiredService<AuditChainer>());
        if (runBackgroundWork)
        {
            services.AddHostedService<AuditCheckpointService>();
        }
        return services;
    }

    public static IEndpointRouteBuilder MapAudit(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/v1/audit").WithTags("Audit").RequireAuthorization(Policies.ReadAudit);
        group.MapGet("", AuditEndpoints.ListEvents).Produces<Page<AuditEventResponse>>(200).WithSummary("List audit events, newest first, with filters");
        group.MapGet("/export", AuditEndpoints.Export).Produces<string>(StatusCodes.Status200OK, "text/csv", "application/x-ndjson").WithSummary("Export the filtered audit trail as CSV or NDJSON");
        group.MapGet("/verify", AuditEndpoints.Verify).Produces<AuditVerifyResponse>(200).WithSummary("Verify the audit trail's hash chain");
        return app;
    }
}
