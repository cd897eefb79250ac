using System.Text.Json;
using Dms.Platform.Security;

namespace Dms.Modules.Documents.Bulk;

/// <summary>What one document's step of a bulk job came to; a refusal is thrown as an <c>ApiProblem</c> (reported as failed with its code).</summary>
internal enum BulkItemOutcome
{
    Done,
    Skipped,
}

/// <summary>One document's result: done, or skipped with the reason in words (a tag it already had, a type it already has).</summary>
internal sealed record BulkItemResult(BulkItemOutcome Outcome, string? Reason = null)
{
    public static readonly BulkItemResult Done = new(BulkItemOutcome.Done);

    public static BulkItemResult Skipped(string reason) => new(BulkItemOutcome.Skipped, reason);
}

/// <summary>
/// One action a bulk job applies document by document (<c>addTags</c>, <c>setField</c>, <c>move</c>…). Each module that owns the
/// single-document use case registers its action (<c>services.AddScoped&lt;IBulkAction, …&gt;()</c>); the bulk job engine finds it by
/// <see cref="Name"/>. An action goes through the same handler as the single-document endpoint, as the job's requester, so
/// permissions, governance, optimistic concurrency and auditing (one event per document) are exactly the single request's.
/// </summary>
internal interface IBulkAction
{
    /// <summary>The contract's action name, e.g. <c>addTags</c>.</summary>
    string Name { get; }

    /// <summary>Checks <c>params</c> when the job is created, before anything runs: throws an <c>ApiProblem</c> (400) naming the bad field.</summary>
    void Validate(JsonElement parameters);

    /// <summary>Applies the action to one document as <paramref name="requester"/>; throws <c>ApiProblem</c> when refused (not found, forbidden, locked…).</summary>
    Task<BulkItemResult> ApplyAsync(CurrentUser requester, Guid documentId, JsonElement parameters, CancellationToken ct);
}
