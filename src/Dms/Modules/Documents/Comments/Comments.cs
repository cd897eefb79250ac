using System.Text.RegularExpressions;
using Dapper;
using Dms.Modules.Access;
using Dms.Modules.Audit;
using Dms.Modules.Notifications;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Documents.Comments;

/// <summary>A comment as the API shows it.</summary>
internal sealed record CommentResponse(Guid Id, Guid DocumentId, Guid AuthorId, string AuthorEmail, string Text, DateTime CreatedAt, DateTime? EditedAt);

/// <summary>
/// Plain-text comments on a document (table <c>document_comments</c>). Whoever may read a document may read and post
/// comments on it; authors edit and delete their own; admins delete any (moderation).
/// </summary>
internal static partial class DocumentComments
{
    public const int MaxLength = 4000;

    /// <summary>At most this many people are told about one comment (a pasted address list is not a broadcast channel).</summary>
    public const int MaxMentions = 20;

    private const string Columns =
        "id AS Id, document_id AS DocumentId, author_id AS AuthorId, author_email AS AuthorEmail, text AS Text, created_at AS CreatedAt, edited_at AS EditedAt";

    /// <summary>Trimmed text, or 400 when empty, too long or holding control characters other than line breaks and tabs.</summary>
    public static string ValidText(string? text)
    {
        var trimmed = text?.Trim() ?? "";
        new Validator()
            .Require(trimmed.Length > 0, "text", "text is required.")
            .Require(trimmed.Length <= MaxLength, "text", $"text is at most {MaxLength} characters.")
            .Require(!trimmed.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\r' or '\t')) && !HasLoneSurrogate(trimmed), "text",
                "text cannot contain control characters.")
            .ThrowIfInvalid();
        return trimmed;
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The e-mail addresses mentioned as <c>@alice@example.com</c>: a user's address is the one handle that is unique in a
    /// tenant and that everyone already knows (ADR 0026).
    /// </summary>
    public static string[] Mentions(string text) =>
        [.. MentionPattern().Matches(text).Select(m => m.Groups[1].Value.TrimEnd('.').ToLowerInvariant()).Distinct(StringComparer.Ordinal).Take(MaxMentions)];

    [GeneratedRegex(@"(?<![\w@.])@([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")]
    private static partial Regex MentionPattern();

    /// <summary>
    /// Notifies each mentioned, enabled user who may read the document (never the author). Nobody else is told, and the
    /// caller learns nothing about who exists or who can read it.
    /// </summary>
    public static async Task NotifyMentionedAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, Guid workspaceId, string text,
        string[] emails, CancellationToken ct)
    {
        if (emails.Length == 0)
        {
            return;
        }
        var users = (await UserDirectory.ActiveByEmailsAsync(c, tx, me.TenantId, emails, ct)).Where(u => u.Id != me.UserId).ToList();
        if (users.Count == 0)
        {
            return;
        }
        var roles = (await c.QueryAsync<(Guid UserId, string Role)>(new CommandDefinition("""
            SELECT user_id, role FROM workspace_members WHERE tenant_id = @tenant AND workspace_id = @workspaceId AND user_id = ANY(@ids)
            """, new { tenant = me.TenantId, workspaceId, ids = users.Select(u => u.Id).ToArray() }, tx, cancellationToken: ct)))
            .ToDictionary(r => r.UserId, r => r.Role);
        var title = await DocumentsFacade.TitleAsync(c, tx, me.TenantId, documentId, ct) ?? "a document";
        foreach (var user in users.Where(u => Permissions.Allows(u.Role, roles.GetValueOrDefault(u.Id), WorkspaceAction.Read)))
        {
            await NotificationOutbox.ToUserAsync(c, tx, me.TenantId, user.Id, new NotificationContent("comment.mentioned",
                $"{me.Email} mentioned you on “{title}”", text.Length > 200 ? text[..200] + "…" : text, documentId), ct);
        }
    }

    /// <summary>The workspace of a live document the caller may read (404 otherwise).</summary>
    public static async Task<Guid> ReadableDocumentAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, CancellationToken ct)
    {
        var scope = await c.QuerySingleOrDefaultAsync<(Guid WorkspaceId, string? MemberRole)?>(new CommandDefinition($"""
            SELECT d.workspace_id, m.role FROM documents d
            {WorkspaceAccess.MemberRoleJoin}
            WHERE d.tenant_id = @tenant AND d.id = @documentId AND d.status NOT IN ({DocumentStates.Gone.Sql()})
            """, new { tenant = me.TenantId, documentId, accessUser = me.UserId }, tx, cancellationToken: ct));
        WorkspaceAccess.RequireRead(me, scope is not null, scope?.MemberRole, "document");
        return scope!.Value.WorkspaceId;
    }

    /// <summary>A comment locked for a change, with the workspace of its document; 404 unless the caller may read the document.</summary>
    public static async Task<(CommentResponse Comment, Guid WorkspaceId)> ForChangeAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid commentId,
        CancellationToken ct)
    {
        var comment = await c.QuerySingleOrDefaultAsync<CommentResponse>(new CommandDefinition(
            $"SELECT {Columns} FROM document_comments WHERE tenant_id = @tenant AND id = @commentId FOR UPDATE",
            new { tenant = me.TenantId, commentId }, tx, cancellationToken: ct)) ?? throw ApiProblem.NotFound("comment");
        try
        {
            return (comment, await ReadableDocumentAsync(c, tx, me, comment.DocumentId, ct));
        }
        catch (ApiProblem)
        {
            // A comment on a document the caller cannot read does not exist for them.
            throw ApiProblem.NotFound("comment");
        }
    }

    public static async Task<IReadOnlyList<CommentResponse>> ListAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid documentId, CancellationToken ct) =>
        (await c.QueryAsync<CommentResponse>(new CommandDefinition(
            $"SELECT {Columns} FROM document_comments WHERE tenant_id = @tenant AND document_id = @documentId ORDER BY created_at, id",
            new { tenant, documentId }, tx, cancellationToken: ct))).ToList();

    public static Task<CommentResponse> InsertAsync(NpgsqlConnection c, NpgsqlTransaction tx, CurrentUser me, Guid documentId, string text, DateTime now,
        CancellationToken ct) =>
        c.QuerySingleAsync<CommentResponse>(new CommandDefinition($"""
            INSERT INTO document_comments (tenant_id, id, document_id, author_id, author_email, text, created_at)
            VALUES (@tenant, @id, @documentId, @user, @email, @text, @now)
            RETURNING {Columns}
            """, new { tenant = me.TenantId, id = Guid.CreateVersion7(), documentId, user = me.UserId, email = me.Email, text, now }, tx, cancellationToken: ct));

    public static Task<CommentResponse> UpdateAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid commentId, string text, DateTime now,
        CancellationToken ct) =>
        c.QuerySingleAsync<CommentResponse>(new CommandDefinition($"""
            UPDATE document_comments SET text = @text, edited_at = @now WHERE tenant_id = @tenant AND id = @commentId
            RETURNING {Columns}
            """, new { tenant, commentId, text, now }, tx, cancellationToken: ct));

    public static Task DeleteAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid commentId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("DELETE FROM document_comments WHERE tenant_id = @tenant AND id = @commentId",
            new { tenant, commentId }, tx, cancellationToken: ct));
}

internal sealed record ListComments(Guid DocumentId);

internal sealed class ListCommentsHandler(Db db) : IHandler<ListComments, IReadOnlyList<CommentResponse>>
{
    public Task<IReadOnlyList<CommentResponse>> HandleAsync(ListComments query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            await DocumentComments.ReadableDocumentAsync(c, tx, me, query.DocumentId, ct);
            return await DocumentComments.ListAsync(c, tx, me.TenantId, query.DocumentId, ct);
        }, ct);
}

internal sealed record PostComment(Guid DocumentId, string? Text);

/// <summary>Anyone who may read the document may comment on it; mentioned readers are told.</summary>
internal sealed class PostCommentHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<PostComment, CommentResponse>
{
    public async Task<CommentResponse> HandleAsync(PostComment command, CurrentUser me, CancellationToken ct)
    {
        var text = DocumentComments.ValidText(command.Text);
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var workspaceId = await DocumentComments.ReadableDocumentAsync(c, tx, me, command.DocumentId, ct);
            var comment = await DocumentComments.InsertAsync(c, tx, me, command.DocumentId, text, now, ct);
            await audit.RecordAsync(c, tx, "comment.created", "comment", comment.Id, new { documentId = command.DocumentId, text }, ct: ct);
            await DocumentComments.NotifyMentionedAsync(c, tx, me, command.DocumentId, workspaceId, text, DocumentComments.Mentions(text), ct);
            return comment;
        }, ct);
    }
}

internal sealed record EditComment(Guid CommentId, string? Text);

/// <summary>Authors edit their own comments (admins moderate by deleting, never by putting words in someone's mouth).</summary>
internal sealed class EditCommentHandler(Db db, AuditTrail audit, TimeProvider clock) : IHandler<EditComment, CommentResponse>
{
    public async Task<CommentResponse> HandleAsync(EditComment command, CurrentUser me, CancellationToken ct)
    {
        var text = DocumentComments.ValidText(command.Text);
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (before, workspaceId) = await DocumentComments.ForChangeAsync(c, tx, me, command.CommentId, ct);
            if (before.AuthorId != me.UserId)
            {
                throw ApiProblem.Forbidden("comment.not_author", "Only its author can edit a comment.");
            }
            var after = await DocumentComments.UpdateAsync(c, tx, me.TenantId, command.CommentId, text, now, ct);
            await audit.RecordAsync(c, tx, "comment.edited", "comment", command.CommentId,
                new { documentId = before.DocumentId, before = before.Text, after = text }, ct: ct);
            // Only people the edit newly mentions are told; the others were told when they were first mentioned.
            var added = DocumentComments.Mentions(text).Except(DocumentComments.Mentions(before.Text), StringComparer.Ordinal).ToArray();
            await DocumentComments.NotifyMentionedAsync(c, tx, me, before.DocumentId, workspaceId, text, added, ct);
            return after;
        }, ct);
    }
}

internal sealed record DeleteComment(Guid CommentId);

/// <summary>Authors delete their own comments; admins delete anyone's (moderation). The audit trail keeps the text.</summary>
internal sealed class DeleteCommentHandler(Db db, AuditTrail audit) : IHandler<DeleteComment, bool>
{
    public async Task<bool> HandleAsync(DeleteComment command, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var (comment, _) = await DocumentComments.ForChangeAsync(c, tx, me, command.CommentId, ct);
            if (comment.AuthorId != me.UserId && !me.IsAdmin)
            {
                throw ApiProblem.Forbidden("comment.not_author", "Only its author or an admin can delete a comment.");
            }
            await DocumentComments.DeleteAsync(c, tx, me.TenantId, command.CommentId, ct);
            await audit.RecordAsync(c, tx, "comment.deleted", "comment", command.CommentId,
                new { documentId = comment.DocumentId, author = comment.AuthorId, text = comment.Text, moderated = comment.AuthorId != me.UserId }, ct: ct);
            return true;
        }, ct);
}
