using System.Globalization;
using System.Text.Json;
using Dms.Modules.Documents.Browse;
using Dms.Modules.Documents.Bulk;
using Dms.Modules.Documents.Types;
using Dms.Platform.Http;
using Dms.Ui;
using Microsoft.AspNetCore.Mvc;

namespace Dms.Pages.BulkJobs;

/// <summary>Starts a job from the documents list's bulk bar (ticked rows or "Select all matching") and lists the caller's jobs.</summary>
internal sealed class IndexModel(ListBulkJobsHandler list) : UiPage
{
    public IReadOnlyList<BulkJobResponse> Jobs { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) => Jobs = await list.HandleAsync(new ListBulkJobs(), Me, ct);

    public Task<IActionResult> OnPostAsync([FromServices] CreateBulkJobHandler create, CancellationToken ct) => Attempt(async () =>
    {
        var form = Request.Form;
        var action = form["action"].ToString();
        var all = form["all"].ToString() == "true";
        var ids = form["ids"].Where(v => !string.IsNullOrEmpty(v)).Select(v => v!).ToList();
        if (!all && ids.Count == 0)
        {
            throw ApiProblem.Validation("ids", "Tick at least one document, or choose Select all matching.");
        }
        BulkUi.RequireChoice(action, form);
        var filter = all
            ? form.Keys.Where(k => k.StartsWith("filter.", StringComparison.Ordinal)).Select(k => new KeyValuePair<string, string?>(k["filter.".Length..], form[k].ToString()))
                .Where(p => !string.IsNullOrEmpty(p.Value)).ToList()
            : null;
        var created = await create.HandleAsync(new CreateBulkJob(action, all ? null : ids, filter, BulkUi.ParamsOf(action, form, await TypesAsync(action, ct))), Me, ct);
        return Redirect($"/bulk-jobs/{created.Id}");
    }, async () =>
    {
        Jobs = await list.HandleAsync(new ListBulkJobs(), Me, ct);
        return Page();
    });

    /// <summary>The tenant's types, read only for <c>setField</c>: the value's spelling depends on its field's kind.</summary>
    private async Task<IReadOnlyList<DocumentType>> TypesAsync(string action, CancellationToken ct) => action == "setField"
        ? await HttpContext.RequestServices.GetRequiredService<ListDocumentTypesHandler>().HandleAsync(new ListDocumentTypes(), Me, ct)
        : [];
}

/// <summary>A job's progress (polled every second by htmx while it runs) and its per-document results in words.</summary>
internal sealed class DetailModel(GetBulkJobHandler get) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    [BindProperty(SupportsGet = true)]
    public int? After { get; set; }

    public BulkJobResponse? Job { get; private set; }

    /// <summary>Where the next page of results starts.</summary>
    public int? LastSeq => Job?.NextResults is { } next && next.LastIndexOf("after=", StringComparison.Ordinal) is var at and >= 0
        && int.TryParse(next[(at + 6)..].Split('&')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq) ? seq : null;

    public Task<IActionResult> OnGetAsync(CancellationToken ct) => Attempt(async () =>
    {
        Job = await get.HandleAsync(new GetBulkJob(RouteIds.Parse(Id), After, 200), Me, ct);
        return Page();
    }, () => Task.FromResult<IActionResult>(Page()));

    public Task<IActionResult> OnPostCancelAsync([FromServices] CancelBulkJobHandler cancel, CancellationToken ct) => Attempt(async () =>
    {
        await cancel.HandleAsync(new CancelBulkJob(RouteIds.Parse(Id)), Me, ct);
        return Redirect($"/bulk-jobs/{Id}");
    }, async () =>
    {
        Job = await get.HandleAsync(new GetBulkJob(RouteIds.Parse(Id), After, 200), Me, ct);
        return Page();
    });

    /// <summary>The ZIP, built while it is sent (the same code as the API's <c>/content</c>).</summary>
    public Task<IActionResult> OnGetContentAsync([FromServices] ZipContent zip, [FromServices] TimeProvider clock, CancellationToken ct) => Attempt(async () =>
    {
        var documents = await zip.HandleAsync(new ZipJobContent(RouteIds.Parse(Id)), Me, ct);
        Response.ContentType = "application/zip";
        Response.Headers.ContentDisposition = $"attachment; filename=\"documents-{clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture)}.zip\"";
        Response.Headers.CacheControl = "no-store";
        await Response.StartAsync(ct);
        await zip.WriteAsync(Response.Body, Me, documents, ct);
        return new EmptyResult();
    }, async () =>
    {
        Job = await get.HandleAsync(new GetBulkJob(RouteIds.Parse(Id), null, 200), Me, ct);
        return Page();
    });
}

/// <summary>Words for the bulk pages: no action names, state names or codes on screen.</summary>
internal static class BulkUi
{
    private static readonly Dictionary<string, string> Labels = new(StringComparer.Ordinal)
    {
        ["addTags"] = "Add tags",
        ["removeTags"] = "Remove tags",
        ["requestDelete"] = "Request delete",
        ["zip"] = "Download as ZIP",
        ["setField"] = "Set field",
        ["setType"] = "Set type",
        ["move"] = "Move",
    };

    public static string ActionLabel(string name) => Labels.TryGetValue(name, out var label) ? label
        : string.Concat(name.Select((ch, i) => i == 0 ? char.ToUpperInvariant(ch).ToString() : char.IsUpper(ch) ? " " + char.ToLowerInvariant(ch) : ch.ToString()));

    public static string Status(string status) => status switch
    {
        "queued" => "Waiting to start",
        "running" => "Running",
        "done" => "Finished",
        "failed" => "Stopped by an error",
        "canceled" => "Canceled",
        _ => "Unknown",
    };

    public static string Counts(BulkJobResponse job) =>
        $"{job.Done + job.Skipped + job.Failed:N0} of {job.Total:N0} handled: {job.Done:N0} done, {job.Skipped:N0} skipped, {job.Failed:N0} failed";

    public static string Outcome(BulkItemResponse item) => item.Outcome switch
    {
        "done" => "Done",
        "skipped" => $"Skipped: {LowerFirst(item.Reason)}",
        _ => $"Failed: {LowerFirst(item.Reason)}",
    };

    public static string OutcomeClass(string outcome) => outcome == "failed" ? "bad" : "";

    private static string LowerFirst(string? reason) =>
        string.IsNullOrEmpty(reason) ? "no reason given" : char.ToLowerInvariant(reason[0]) + reason[1..];

    /// <summary>The list's current filters under the API's names, as "Select all matching" acts on them.</summary>
    public static IEnumerable<(string Name, string Value)> FilterOf(HttpRequest request) =>
        DocumentsPageQuery.ToListParameters(request.QueryString.Value).Select(p => (p.Key, p.Value ?? ""));

    /// <summary>
    /// The bar's inputs as the action's params: tags for the tag actions, the reason for delete requests, the chosen type
    /// (<see cref="NoType"/> clears it), the field and its value (a value for the type's field: empty clears, a multi-select's
    /// choices comma-separated, yes/no as true/false) and the destination (<c>workspaceId</c> or <c>workspaceId/folderId</c>, as the move
    /// page spells it). Nothing chosen gives no param, so the action's own validation names what is missing.
    /// </summary>
    public static JsonElement ParamsOf(string action, IFormCollection form, IReadOnlyList<DocumentType> types)
    {
        var parameters = new Dictionary<string, object?>(StringComparer.Ordinal);
        switch (action)
        {
            case "addTags" or "removeTags":
                parameters["tags"] = form["tags"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                break;
            case "requestDelete":
                parameters["reason"] = (string?)form["reason"];
                break;
            case "setType":
                var typeId = form["setTypeId"].ToString();
                if (typeId == NoType)
                {
                    parameters["typeId"] = null;
                }
                else if (typeId.Length > 0)
                {
                    parameters["typeId"] = typeId;
                }
                break;
            case "setField":
                var key = form["fieldKey"].ToString();
                if (key.Length > 0)
                {
                    parameters["key"] = key;
                    var field = types.FirstOrDefault(t => t.Id.ToString() == form["fieldTypeId"].ToString())?.Field(key);
                    parameters["value"] = FieldValue(field?.Kind, form["fieldValue"].ToString().Trim());
                }
                break;
            case "move":
                var parts = form["moveTo"].ToString().Split('/');
                if (parts[0].Length > 0)
                {
                    parameters["workspaceId"] = parts[0];
                    parameters["folderId"] = parts.Length > 1 && parts[1].Length > 0 ? parts[1] : null;
                }
                break;
        }
        return JsonSerializer.SerializeToElement(parameters);
    }

    /// <summary>An action whose input was left on its "Choose…" line is refused in words here, not with the API's param names.</summary>
    public static void RequireChoice(string action, IFormCollection form)
    {
        var (input, message) = action switch
        {
            "setType" => ("setTypeId", "Choose a type to set, or No type to clear it."),
            "setField" => ("fieldKey", "Filter the list by a document type, then choose one of its fields."),
            "move" => ("moveTo", "Choose where to move the documents."),
            _ => ("", ""),
        };
        if (input.Length > 0 && string.IsNullOrEmpty(form[input].ToString()))
        {
            throw ApiProblem.Validation(input, message);
        }
    }

    /// <summary>The "Set type to" choice that clears the type (setType takes a null typeId).</summary>
    public const string NoType = "none";

    private static object? FieldValue(FieldKind? kind, string text) => text.Length == 0 ? null : kind switch
    {
        FieldKind.Multiselect => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        FieldKind.Boolean => text.ToLowerInvariant() switch { "yes" or "true" => "true", "no" or "false" => "false", _ => text },
        _ => text,
    };
}
