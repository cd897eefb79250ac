using Dms.Platform.Security;
using Npgsql;

namespace Dms.Modules.Audit;

/// <summary>The audit trail behind Platform's <see cref="IAuditLog"/>.</summary>
internal sealed class AuditLog(AuditTrail trail) : IAuditLog
{
    public Task RecordAsync(NpgsqlConnection c, NpgsqlTransaction tx, string action, string entityType, object? entityId, CancellationToken ct) =>
        trail.RecordAsync(c, tx, action, entityType, entityId, ct: ct);
}
