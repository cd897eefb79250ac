using Dms.Platform.Database;
using Dms.Platform.Security;
using Dms.Platform.UseCases;

namespace Dms.Modules.Audit.Events;

/// <summary>Walks the tenant's hash chain and compares it with the newest signed checkpoint in the blob store (ADR 0012).</summary>
internal sealed record VerifyAuditChain;

internal sealed class VerifyAuditChainHandler(TenantDatabases tenants, AuditCheckpoints checkpoints) : IHandler<VerifyAuditChain, AuditVerifyResponse>
{
    public async Task<AuditVerifyResponse> HandleAsync(VerifyAuditChain query, CurrentUser me, CancellationToken ct)
    {
        var result = await AuditVerification.VerifyAsync(await tenants.SourceForAsync(me.TenantId, ct), checkpoints, me.TenantId, ct);
        if (!result.Valid)
        {
            Platform.Observability.AuditHealth.Broken();
        }
        return result;
    }
}
