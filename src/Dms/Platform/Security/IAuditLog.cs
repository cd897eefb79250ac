using Npgsql;

namespace Dms.Platform.Security;

/// <summary>
/// Platform's view of the audit trail (owned by the Audit module), for the few Platform use cases that are audited
/// (replaying a dead message). Appends in the caller's transaction, as the actor of the current request.
/// </summary>
internal interface IAuditLog
{
    Task RecordAsync(NpgsqlConnection c, NpgsqlTransaction tx, string action, string entityType, object? entityId, CancellationToken ct);
}
