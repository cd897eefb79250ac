using Dms.Modules.Audit;
using Dms.Modules.Documents.Browse;
using Dms.Platform.Configuration;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Dms.Modules.Documents.Views;

/// <summary>
/// A view's query is judged by the list itself: its names by <see cref="ListDocuments.FromParameters"/>, its values by one run of the
/// list handler with <c>limit=1</c>, so a bad value is refused when saved with the very code <c>GET /documents</c> would answer.
/// </summary>
internal sealed class SaveViewChecks(ListDocumentsHandler list)
{
    public async Task<Dictionary<string, string>> QueryAsync(IReadOnlyDictionary<string, string?>? query, CurrentUser me, CancellationToken ct)
    {
        var normalized = SavedViews.NormalizeQuery(query);
        var parsed = SavedViews.ToListQuery(normalized);
        // The view's own page size is judged as the list judges it, then the check lists one document only.
        KeysetCursor.Limit(parsed.Limit);
        await list.HandleAsync(parsed with { Limit = 1, Cursor = null }, me, ct);
        return normalized;
    }
}

internal sealed record CreateView(string? Name, IReadOnlyDictionary<string, string?>? Query, IReadOnlyList<string?>? Columns, bool Shared, bool Pinned);

/// <summary>Saves a view for the caller (private unless shared); a shared one is audited.</summary>
internal sealed class CreateViewHandler(Db db, AuditTrail audit, TimeProvider clock, SaveViewChecks checks, IOptions<DmsOptions> options)
    : IHandler<CreateView, ViewResponse>
{
    public async Task<ViewResponse> HandleAsync(CreateView command, CurrentUser me, CancellationToken ct)
    {
        var name = SavedViews.ValidName(command.Name);
        var columns = SavedViews.ValidColumns(command.Columns);
        var query = await checks.QueryAsync(command.Query, me, ct);
        var now = clock.GetUtcNow().UtcDateTime;
        var id = Guid.CreateVersion7();
        return await ViewRules.NameRaceAsync(name, () => db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            if (await SavedViews.CountOwnedAsync(c, tx, me, ct) >= options.Value.Views.MaxPerUser)
            {
                throw ApiProblem.Conflict("view.too_many", $"You have {options.Value.Views.MaxPerUser} saved views, the most one person may keep: delete one first.");
            }
            await ViewRules.RequireFreeNameAsync(c, tx, me, name, null, ct);
            await SavedViews.InsertAsync(c, tx, me, id, name, query, columns, command.Shared, now, ct);
            if (command.Pinned)
            {
                await ViewRules.PinAsync(c, tx, me, id, now, ct);
            }
            if (command.Shared)
            {
                await audit.RecordAsync(c, tx, "view.created", "saved_view", id, new { name, query, columns, shared = true }, ct: ct);
            }
            return await SavedViews.VisibleAsync(c, tx, me, id, forUpdate: false, ct);
        }, ct));
    }
}

internal sealed record ListViews;

/// <summary>The caller's own views and the tenant's shared ones.</summary>
internal sealed class ListViewsHandler(Db db) : IHandler<ListViews, IReadOnlyList<ViewResponse>>
{
    public async Task<IReadOnlyList<ViewResponse>> HandleAsync(ListViews query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => SavedViews.VisibleAsync(c, tx, me, pinnedOnly: false, ct), ct);
}

internal sealed record GetView(Guid Id);

internal sealed class GetViewHandler(Db db) : IHandler<GetView, ViewResponse>
{
    public Task<ViewResponse> HandleAsync(GetView query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => SavedViews.VisibleAsync(c, tx, me, query.Id, forUpdate: false, ct), ct);
}

/// <summary>A change to a view; null leaves a part as it is. Anyone who sees a view may pin it; only its owner changes the rest.</summary>
internal sealed record UpdateView(Guid Id, string? Name = null, IReadOnlyDictionary<string, string?>? Query = null, IReadOnlyList<string?>? Columns = null,
    bool? Shared = null, bool? Pinned = null);

internal sealed class UpdateViewHandler(Db db, AuditTrail audit, TimeProvider clock, SaveViewChecks checks) : IHandler<UpdateView, ViewResponse>
{
    public async Task<ViewResponse> HandleAsync(UpdateView command, CurrentUser me, CancellationToken ct)
    {
        var name = command.Name is null ? null : SavedViews.ValidName(command.Name);
        var columns = command.Columns is null ? null : SavedViews.ValidColumns(command.Columns);
        var query = command.Query is null ? null : await checks.QueryAsync(command.Query, me, ct);
        var changesView = name is not null || columns is not null || query is not null || command.Shared is not null;
        var now = clock.GetUtcNow().UtcDateTime;
        return await ViewRules.NameRaceAsync(name, () => db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var before = await SavedViews.VisibleAsync(c, tx, me, command.Id, forUpdate: true, ct);
            if (changesView)
            {
                if (!before.CanEdit)
                {
                    throw ApiProblem.Forbidden("view.not_owner", "Only its owner can change a view; you can pin it, or save your own copy.");
                }
                if (name is not null)
                {
                    await ViewRules.RequireFreeNameAsync(c, tx, me, name, command.Id, ct);
                }
                var shared = command.Shared ?? before.Shared;
                await SavedViews.UpdateAsync(c, tx, me.TenantId, command.Id, name ?? before.Name, query ?? before.Query, columns ?? before.Columns, shared, now, ct);
                if (before.Shared && !shared)
                {
                    await SavedViews.DropOthersPinsAsync(c, tx, me.TenantId, command.Id, me.UserId, ct);
                }
                // Others see a shared view (or saw it until now): what changed in it is on the record.
                if (before.Shared || shared)
                {
                    await audit.RecordAsync(c, tx, "view.updated", "saved_view", command.Id, new
                    {
                        before = new { before.Name, before.Query, before.Columns, before.Shared },
                        after = new { Name = name ?? before.Name, Query = query ?? before.Query, Columns = columns ?? before.Columns, Shared = shared },
                    }, ct: ct);
                }
            }
            if (command.Pinned is { } pinned)
            {
                if (pinned)
                {
                    await ViewRules.PinAsync(c, tx, me, command.Id, now, ct);
                }
                else
                {
                    await SavedViews.SetPinAsync(c, tx, me, command.Id, false, now, ct);
                }
            }
            return await SavedViews.VisibleAsync(c, tx, me, command.Id, forUpdate: false, ct);
        }, ct));
    }
}

internal sealed record DeleteView(Guid Id);

/// <summary>Owners delete their views; admins may delete shared ones too (moderation). A shared view's deletion is audited.</summary>
internal sealed class DeleteViewHandler(Db db, AuditTrail audit) : IHandler<DeleteView, bool>
{
    public async Task<bool> HandleAsync(DeleteView command, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var view = await SavedViews.VisibleAsync(c, tx, me, command.Id, forUpdate: true, ct);
            if (!view.CanDelete)
            {
                throw ApiProblem.Forbidden("view.not_owner", "Only its owner or an admin can delete a shared view.");
            }
            await SavedViews.DeleteAsync(c, tx, me.TenantId, command.Id, ct);
            if (view.Shared)
            {
                await audit.RecordAsync(c, tx, "view.deleted", "saved_view", command.Id,
                    new { view.Name, view.Query, view.Columns, owner = view.Owner.Id, moderated = !view.Mine }, ct: ct);
            }
            return true;
        }, ct);
}

internal sealed record CountView(Guid Id);

/// <summary>How many documents the caller can read match a view, up to the cap.</summary>
internal sealed class CountViewHandler(Db db, ViewCounter counter) : IHandler<CountView, ViewCountResponse>
{
    public async Task<ViewCountResponse> HandleAsync(CountView query, CurrentUser me, CancellationToken ct)
    {
        var view = await db.InTenantAsync(me.TenantId, (c, tx) => SavedViews.VisibleAsync(c, tx, me, query.Id, forUpdate: false, ct), ct);
        var count = await counter.CountAsync(SavedViews.ToListQuery(view.Query), me, ct);
        return new ViewCountResponse(view.Id, count.Count, count.Capped);
    }
}

/// <summary>The home page: the caller's pinned views with their counts, and the documents they may read that changed last.</summary>
internal sealed record HomeResponse(IReadOnlyList<ViewResponse> Pinned, IReadOnlyList<DocumentResponse> Recent);

internal sealed record GetHome(int Recent = 5);

internal sealed class GetHomeHandler(Db db, ViewCounter counter, ListDocumentsHandler list) : IHandler<GetHome, HomeResponse>
{
    public async Task<HomeResponse> HandleAsync(GetHome query, CurrentUser me, CancellationToken ct)
    {
        var pinned = await db.InTenantAsync(me.TenantId, (c, tx) => SavedViews.VisibleAsync(c, tx, me, pinnedOnly: true, ct), ct);
        var counted = new List<ViewResponse>(pinned.Count);
        foreach (var view in pinned)
        {
            try
            {
                var count = await counter.CountAsync(SavedViews.ToListQuery(view.Query), me, ct);
                counted.Add(view with { Count = count.Count, CountCapped = count.Capped });
            }
            catch (ApiProblem problem)
            {
                // One view whose query no longer runs (its folder is gone, a field was removed) must not take the home page down.
                counted.Add(view with { CountProblem = problem.Title });
            }
        }
        var recent = await list.HandleAsync(new ListDocuments(Sort: "updatedAt", Order: "desc", Limit: Math.Clamp(query.Recent, 1, 20)), me, ct);
        return new HomeResponse(counted, recent.Items);
    }
}

/// <summary>Rules shared by the handlers that save and pin views.</summary>
internal static class ViewRules
{
    /// <summary>Pins shown on one home page, each counted when it is shown.</summary>
    public const int MaxPins = 20;

    /// <summary>Two saves of one name at once both pass the check; the unique index refuses the second, with the same 409.</summary>
    public static async Task<T> NameRaceAsync<T>(string? name, Func<Task<T>> save)
    {
        try
        {
            return await save();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == "saved_views_owner_name")
        {
            throw ApiProblem.Conflict("view.name_taken", $"You already have a view called “{name}”.");
        }
    }

    public static async Task RequireFreeNameAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, string name, Guid? except, CancellationToken ct)
    {
        if (await SavedViews.NameTakenAsync(c, tx, me, name, except, ct))
        {
            throw ApiProblem.Conflict("view.name_taken", $"You already have a view called “{name}”.");
        }
    }

    public static async Task PinAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid id, DateTime now, CancellationToken ct)
    {
        var pins = (await SavedViews.VisibleAsync(c, tx, me, pinnedOnly: true, ct)).Where(v => v.Id != id).Count();
        if (pins >= MaxPins)
        {
            throw ApiProblem.Conflict("view.too_many_pins", $"At most {MaxPins} views are pinned to the home page: unpin one first.");
        }
        await SavedViews.SetPinAsync(c, tx, me, id, true, now, ct);
    }
}
