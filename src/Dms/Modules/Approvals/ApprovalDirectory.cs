using Dapper;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Documents;
using Npgsql;

namespace Dms.Modules.Approvals;

/// <summary>Approvals' facade for naming requests (the UI's audit pages): "delete request for “Title”".</summary>
internal static class ApprovalDirectory
{
    /// <summary>Names of the requests among <paramref name="ids"/> whose document still exists; others are absent.</summary>
    public static async Task<IReadOnlyList<(Guid Id, string Name)>> NamesAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid[] ids, CancellationToken ct)
    {
        var requests = (await c.QueryAsync<(Guid Id, ApprovalType Type, Guid DocumentId)>(new CommandDefinition(
            "SELECT id, type, document_id FROM approval_requests WHERE tenant_id = @tenant AND id = ANY(@ids)",
            new { tenant, ids }, tx, cancellationToken: ct))).ToList();
        if (requests.Count == 0)
        {
            return [];
        }
        var titles = (await DocumentLookups.NamesAsync(c, tx, tenant, [.. requests.Select(r => r.DocumentId).Distinct()], ct)).ToDictionary(n => n.Id, n => n.Name);
        return [.. requests.Where(r => titles.ContainsKey(r.DocumentId))
            .Select(r => (r.Id, $"{r.Type.ToString().ToLowerInvariant()} request for “{titles[r.DocumentId]}”"))];
    }
}
