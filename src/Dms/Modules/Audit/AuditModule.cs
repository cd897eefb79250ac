namespace Dms.Modules.Audit;

internal static class AuditModule
{
    /// <summary>Checkpoint signing and store; worker nodes also anchor every tenant's chain head periodically (ADR 0012).</summary>
    public static IServiceCollection AddAudit(this IServiceCollection services, bool runBackgroundWork)
    {
        services.AddSingleton<AuditTrail>();
        services.AddSingleton<AuditCheckpointKey>();
        services.AddSingleton<AuditCheckpoints>();
        if (runBackgroundWork)
        {
            services.AddHostedService<AuditCheckpointService>();
        }
        return services;
    }
}
