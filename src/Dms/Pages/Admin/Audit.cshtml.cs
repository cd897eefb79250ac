using Dms.Modules.Audit;
using Dms.Modules.Audit.Events;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace Dms.Pages.Admin;

internal sealed record VerifyResult(bool Valid, long Checked, Guid? FirstBrokenEventId, long? FirstBrokenSeq, bool Anchored = false, string? Problem = null,
    long Unchained = 0)
{
    /// <summary>What an auditor reads; the problem codes are the API's (docs/api.md).</summary>
    public string Message => Verdict + (Unchained > 0 ? $" {Unchained} newer events are recorded and not yet chained." : "");

    private string Verdict => Problem switch
    {
        null when Anchored => $"The chain is intact and matches its signed checkpoint: {Checked} events checked.",
        null => $"The chain is intact: {Checked} events checked (no signed checkpoint yet).",
        "truncated" => $"Events were removed: the chain ends at #{Checked}, before its signed checkpoint.",
        "tail_rewritten" => "The chain was recomputed: it no longer matches its signed checkpoint.",
        "checkpoint_invalid" => "The newest checkpoint's signature does not verify (forged, or signed with an unknown key).",
        "head_mismatch" => $"The chain head does not match its last event (#{Checked}).",
        _ => $"The chain is broken at event #{FirstBrokenSeq} ({FirstBrokenEventId}); {Checked} events checked before it.",
    };
}

/// <summary>The tenant's audit trail: filters, keyset paging, export (CSV / NDJSON) and hash-chain verification.</summary>
internal sealed class AuditModel(Db db) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? Actor { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Action { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? EntityId { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? From { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? To { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    public Page<AuditEventResponse> Events { get; private set; } = new([], null);
    public VerifyResult? Verified { get; private set; }

    /// <summary>Titles, e-mails and names for the ids on this page.</summary>
    public Dictionary<string, string> Names { get; private set; } = [];

    public Task<IActionResult> OnGetAsync([FromServices] ListAuditEventsHandler list, CancellationToken ct) => Attempt(async () =>
    {
        Events = await list.HandleAsync(new ListAuditEvents(Blank(Actor), Blank(Action), Blank(EntityId), Blank(From), Blank(To), 50, Cursor), Me, ct);
        Names = await UiLookups.EntityNamesAsync(db, Me, Events.Items.Select(e => e.EntityId).Concat(Events.Items.Select(e => e.ActorId?.ToString())), ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(Page()));

    public async Task<IActionResult> OnGetVerifyAsync([FromServices] VerifyAuditChainHandler verify, [FromServices] ListAuditEventsHandler list, CancellationToken ct)
    {
        var chain = await verify.HandleAsync(new VerifyAuditChain(), Me, ct);
        Verified = new VerifyResult(chain.Valid, chain.Checked, chain.FirstBrokenEventId, chain.FirstBrokenSeq, chain.Anchored, chain.Problem, chain.Unchained);
        return await OnGetAsync(list, ct);
    }

    public string Link(string path, IDictionary<string, string?>? extra = null)
    {
        var query = new Dictionary<string, string?>
        {
            ["actor"] = Blank(Actor),
            ["action"] = Blank(Action),
            ["entityId"] = Blank(EntityId),
            ["from"] = Blank(From),
            ["to"] = Blank(To),
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            query[k] = v;
        }
        return QueryHelpers.AddQueryString(path, query.Where(q => q.Value is not null));
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
