using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Documents.Duplicates;

/// <summary>The tenant's duplicate setting: <see cref="Refuse"/> turns a flagged duplicate into 409 <c>document.duplicate</c>.</summary>
internal sealed record DuplicateSettingsResponse(bool Refuse);

/// <summary>
/// "Is this file already here?" for a new document: the live documents of the tenant whose current version has the same
/// SHA-256 and that the uploader may read (never others: a duplicate in a workspace they cannot read stays unknown, and
/// does not refuse their upload either, which would tell them it exists; ADR 0029).
/// </summary>
internal static class DuplicateCheck
{
    /// <summary>At most this many ids are named: enough to open one, not a way to enumerate a tenant's copies.</summary>
    public const int MaxNamed = 20;

    // The versions with this content first (a handful, from the index), then each one's document by key. The LATERAL with
    // OFFSET 0 is a fence: without it the planner chose to walk the tenant's documents by recency (for the ORDER BY) and
    // probe each one's versions, which grows with the tenant instead of with the number of copies.
    internal static readonly string FindSql = $"""
        SELECT d.id FROM (
          SELECT document_id, number FROM document_versions WHERE tenant_id = @tenant AND sha256 = @sha256
        ) v
        CROSS JOIN LATERAL (
          SELECT d.id, d.created_at FROM documents d
          WHERE d.tenant_id = @tenant AND d.id = v.document_id AND d.current_version = v.number
            AND d.id <> @self AND d.status NOT IN ({DocumentStates.Gone.Sql()})
            AND {WorkspaceAccess.Readable("d.workspace_id")}
          OFFSET 0
        ) d
        ORDER BY d.created_at, d.id
        LIMIT {MaxNamed}
        """;

    /// <summary>
    /// In the upload's transaction, before its rows are written: the readable duplicates of <paramref name="sha256"/>, or
    /// 409 <c>document.duplicate</c> naming them when the tenant refuses duplicates (the transaction then rolls back and
    /// the upload discards its blob). With refusal on, uploads of the same content queue on an advisory lock, so two
    /// concurrent copies cannot both pass.
    /// </summary>
    public static async Task<Guid[]> CheckAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid self, string sha256, CancellationToken ct)
    {
        var refuse = (await DuplicateSettingsStore.ReadAsync(c, tx, me.TenantId, ct)).Refuse;
        if (refuse)
        {
            await c.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))",
                new { key = $"duplicate:{me.TenantId}:{sha256}" }, tx, cancellationToken: ct));
        }
        var ids = (await c.QueryAsync<Guid>(new CommandDefinition(FindSql, new
        {
            tenant = me.TenantId,
            sha256,
            self,
            isAdmin = me.IsAdmin,
            accessTenant = me.TenantId,
            accessUser = me.UserId,
        }, tx, cancellationToken: ct))).ToArray();
        if (refuse && ids.Length > 0)
        {
            throw new ApiProblem(StatusCodes.Status409Conflict, "document.duplicate", "This file is already here: the tenant does not keep duplicates.",
                "Open the existing document instead.")
            { Extensions = new Dictionary<string, object?> { ["duplicateOf"] = ids } };
        }
        return ids;
    }
}

/// <summary>The tenant's duplicate setting, in the caller's transaction; no row: flag, never refuse.</summary>
internal static class DuplicateSettingsStore
{
    public static async Task<DuplicateSettingsResponse> ReadAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        await c.QuerySingleOrDefaultAsync<DuplicateSettingsResponse>(new CommandDefinition(
            "SELECT refuse AS Refuse FROM duplicate_settings WHERE tenant_id = @tenant", new { tenant }, tx, cancellationToken: ct))
        ?? new DuplicateSettingsResponse(false);
}

internal sealed record GetDuplicateSettings;

internal sealed class GetDuplicateSettingsHandler(Db db) : IHandler<GetDuplicateSettings, DuplicateSettingsResponse>
{
    public Task<DuplicateSettingsResponse> HandleAsync(GetDuplicateSettings query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => DuplicateSettingsStore.ReadAsync(c, tx, me.TenantId, ct), ct);
}

internal sealed record ChangeDuplicateSettings(bool? Refuse);

/// <summary>Admins choose whether a duplicate upload is refused or only flagged (audited when it changes).</summary>
internal sealed class ChangeDuplicateSettingsHandler(Db db, AuditTrail audit) : IHandler<ChangeDuplicateSettings, DuplicateSettingsResponse>
{
    public async Task<DuplicateSettingsResponse> HandleAsync(ChangeDuplicateSettings command, CurrentUser me, CancellationToken ct)
    {
        if (!me.IsAdmin)
        {
            throw ApiProblem.Forbidden("auth.forbidden", "Only admins change the duplicate setting.");
        }
        new Validator().Require(command.Refuse is not null, "refuse", "refuse must be true or false.").ThrowIfInvalid();
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var current = await DuplicateSettingsStore.ReadAsync(c, tx, me.TenantId, ct);
            var next = new DuplicateSettingsResponse(command.Refuse!.Value);
            await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO duplicate_settings (tenant_id, refuse, updated_by) VALUES (@tenant, @refuse, @user)
                ON CONFLICT (tenant_id) DO UPDATE SET refuse = excluded.refuse, updated_at = now(), updated_by = excluded.updated_by
                """, new { tenant = me.TenantId, refuse = next.Refuse, user = me.UserId }, tx, cancellationToken: ct));
            if (next != current)
            {
                await audit.RecordAsync(c, tx, "duplicates.settings_changed", "tenant", me.TenantId, new { next.Refuse }, ct: ct);
            }
            return next;
        }, ct);
    }
}
