using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Outbox;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Modules.Documents.Search;

/// <summary>
/// The tenant's search language. <c>any</c> (the default) suits mixed-language text: words are matched as written, with case
/// and accents folded. A language adds its stemming ("reports" finds "report") and stop words.
/// </summary>
internal static class SearchLanguages
{
    public const string Any = "any";

    /// <summary>Language name → PostgreSQL text search configuration.</summary>
    public static readonly IReadOnlyDictionary<string, string> Configs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [Any] = "dms_simple",
        ["danish"] = "danish",
        ["dutch"] = "dutch",
        ["english"] = "english",
        ["finnish"] = "finnish",
        ["french"] = "french",
        ["german"] = "german",
        ["hungarian"] = "hungarian",
        ["italian"] = "italian",
        ["norwegian"] = "norwegian",
        ["portuguese"] = "portuguese",
        ["romanian"] = "romanian",
        ["russian"] = "russian",
        ["spanish"] = "spanish",
        ["swedish"] = "swedish",
        ["turkish"] = "turkish",
    };

    public static string NameOf(string config) => Configs.FirstOrDefault(kv => kv.Value == config).Key ?? Any;
}

internal sealed record SearchSettingsResponse(string Language, IReadOnlyList<string> Languages);

internal sealed record SearchSettingsBody(string? Language);

internal sealed record GetSearchSettings;

internal sealed class GetSearchSettingsHandler(Db db) : IHandler<GetSearchSettings, SearchSettingsResponse>
{
    public async Task<SearchSettingsResponse> HandleAsync(GetSearchSettings query, CurrentUser me, CancellationToken ct) =>
        new(SearchLanguages.NameOf(await db.InTenantAsync(me.TenantId, (c, tx) => c.ExecuteScalarAsync<string>(new CommandDefinition(
            $"SELECT {PostgresSearchIndex.Config}::text", new { Tenant = me.TenantId }, tx, cancellationToken: ct)), ct) ?? ""),
            [.. SearchLanguages.Configs.Keys.Order(StringComparer.Ordinal)]);
}

internal sealed record ChangeSearchLanguage(string? Language);

/// <summary>Sets the tenant's search language (admins, audited); the worker then re-indexes the tenant's documents in batches.</summary>
internal sealed class ChangeSearchLanguageHandler(Db db, AuditTrail audit) : IHandler<ChangeSearchLanguage, SearchSettingsResponse>
{
    public const string Reindex = "document.search_reindex";

    public async Task<SearchSettingsResponse> HandleAsync(ChangeSearchLanguage command, CurrentUser me, CancellationToken ct)
    {
        new Validator().Require(command.Language is not null && SearchLanguages.Configs.ContainsKey(command.Language), "language",
            $"language must be one of: {string.Join(", ", SearchLanguages.Configs.Keys.Order(StringComparer.Ordinal))}.").ThrowIfInvalid();
        var name = command.Language!.ToLowerInvariant();
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var changed = await c.ExecuteAsync(new CommandDefinition("""
                INSERT INTO search_settings (tenant_id, config, updated_by) VALUES (@Tenant, @Config::regconfig, @User)
                ON CONFLICT (tenant_id) DO UPDATE SET config = excluded.config, updated_at = now(), updated_by = excluded.updated_by
                WHERE search_settings.config <> excluded.config
                """, new { Tenant = me.TenantId, Config = SearchLanguages.Configs[name], User = me.UserId }, tx, cancellationToken: ct));
            if (changed == 1)
            {
                await Outbox.EnqueueAsync(c, tx, me.TenantId, Reindex, new { }, ct);
                await audit.RecordAsync(c, tx, "search.language_changed", "tenant", me.TenantId, new { language = name }, ct: ct);
            }
            return changed;
        }, ct);
        return new SearchSettingsResponse(name, [.. SearchLanguages.Configs.Keys.Order(StringComparer.Ordinal)]);
    }
}

/// <summary>Re-parses the tenant's search rows in the new language, a batch per transaction, until none is left.</summary>
internal sealed class SearchReindexHandler(Db db) : IOutboxHandler
{
    private const int Batch = 2000;

    public string Type => ChangeSearchLanguageHandler.Reindex;

    public OutboxLane Lane => OutboxLane.Background;

    public async Task HandleAsync(OutboxMessage message, CancellationToken ct)
    {
        while (await db.InTenantAsync(message.TenantId, (c, tx) => c.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT document_search_reindex(@Batch)", new { Batch }, tx, cancellationToken: ct)), ct) > 0)
        {
        }
    }
}

internal static class SearchSettingsEndpoints
{
    public static RouteGroupBuilder MapSearchSettings(this RouteGroupBuilder admin)
    {
        admin.MapGet("/search-settings", Get).Produces<SearchSettingsResponse>(200).WithSummary("Get the tenant's search language (admins)");
        admin.MapPut("/search-settings", Put).Produces<SearchSettingsResponse>(200).WithSummary("Set the tenant's search language (admins); documents are re-indexed in the background");
        return admin;
    }

    private static async Task<IResult> Get(HttpContext http, [FromServices] GetSearchSettingsHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new GetSearchSettings(), CurrentUser.From(http.User), ct));

    private static async Task<IResult> Put(HttpContext http, SearchSettingsBody body, [FromServices] ChangeSearchLanguageHandler handler, CancellationToken ct) =>
        Results.Ok(await handler.HandleAsync(new ChangeSearchLanguage(body.Language), CurrentUser.From(http.User), ct));
}
