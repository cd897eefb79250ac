using System.Text.Json;
using Dms.Modules.Approvals.Decisions;
using Dms.Modules.Approvals.Domain;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Outbox;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.Admin;

/// <summary>Background messages that ran out of attempts (execution, purge, notification): look, and replay.</summary>
internal sealed class OutboxModel(GiveUpHandler giveUp) : UiPage
{
    public List<DeadMessage> Messages { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync([FromServices] ListDeadMessagesHandler list, CancellationToken ct)
    {
        Messages = await list.HandleAsync(new ListDeadMessages(), Me, ct);
        return Page();
    }

    public Task<IActionResult> OnPostReplayAsync(string id, [FromServices] ReplayDeadMessageHandler replay, [FromServices] ListDeadMessagesHandler list,
        CancellationToken ct) => Attempt(async () =>
    {
        await replay.HandleAsync(new ReplayDeadMessage(Platform.Http.RouteIds.Parse(id)), Me, ct);
        return Done("Queued again: it runs within seconds.", "/admin/outbox");
    }, () => OnGetAsync(list, ct));

    /// <summary>The approval a dead <c>approval.execute</c> message would have carried out; null for other messages.</summary>
    public static string? ApprovalOf(DeadMessage message)
    {
        if (message.Type != OutboxTypes.Execute)
        {
            return null;
        }
        using var payload = JsonDocument.Parse(message.Payload);
        return payload.RootElement.TryGetProperty("approvalId", out var id) ? id.GetString() : null;
    }

    public Task<IActionResult> OnPostGiveUpAsync(string approvalId, [FromServices] ListDeadMessagesHandler list, CancellationToken ct) => Attempt(async () =>
    {
        await giveUp.HandleAsync(new GiveUp(Platform.Http.RouteIds.Parse(approvalId)), Me, ct);
        return Done("Given up: the request failed, the document is active again and the requester was told.", "/admin/outbox");
    }, () => OnGetAsync(list, ct));
}
