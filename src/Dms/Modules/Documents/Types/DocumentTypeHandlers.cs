using System.Text.Json;
using Dapper;
using Dms.Modules.Audit;
using Dms.Platform.Database;
using Dms.Platform.Http;
using Dms.Platform.Security;
using Dms.Platform.UseCases;
using Npgsql;

namespace Dms.Modules.Documents.Types;

internal sealed record CreateDocumentType(JsonElement? Name, JsonElement? Fields);

internal sealed record ListDocumentTypes;

internal sealed record GetDocumentTypeQuery(Guid Id);

/// <summary>A change of name and/or the whole field list (null: unchanged).</summary>
internal sealed record UpdateDocumentType(Guid Id, JsonElement? Name, JsonElement? Fields);

internal sealed record DeleteDocumentType(Guid Id);

internal static class DocumentTypeRules
{
    public static string CheckName(JsonElement? name)
    {
        var text = FieldDefinitions.Name(name);
        if (!FieldDefinitions.IsValidName(text))
        {
            throw new ApiProblem(StatusCodes.Status400BadRequest, "document_type.invalid_name", $"name is 1-{FieldDefinitions.NameMax} characters.")
            {
                Errors = new Dictionary<string, string[]> { ["name"] = [$"name is 1-{FieldDefinitions.NameMax} characters."] },
            };
        }
        return text!;
    }

    public static ApiProblem NameTaken(string name) =>
        ApiProblem.Conflict("document_type.name_taken", $"A document type named '{name}' already exists.");

    public static ApiProblem NotFound() => ApiProblem.NotFound("document_type");

    /// <summary>Only admins define types; everyone who reads documents reads them (the endpoints' policies say the same).</summary>
    public static void RequireAdmin(CurrentUser me)
    {
        if (!me.IsAdmin)
        {
            throw ApiProblem.Forbidden("document_type.admin_only", "Only administrators change document types.");
        }
    }

    public static object Audited(DocumentType t) => new { t.Name, fields = t.Fields.Select(f => new { f.Key, f.Label, kind = f.KindName, f.Required, f.Options }) };
}

internal sealed class CreateDocumentTypeHandler(Db db, AuditTrail audit) : IHandler<CreateDocumentType, DocumentType>
{
    public async Task<DocumentType> HandleAsync(CreateDocumentType command, CurrentUser me, CancellationToken ct)
    {
        DocumentTypeRules.RequireAdmin(me);
        var name = DocumentTypeRules.CheckName(command.Name);
        var fields = FieldDefinitions.Parse(command.Fields);
        var id = Guid.CreateVersion7();
        try
        {
            return await db.InTenantAsync(me.TenantId, async (c, tx) =>
            {
                await c.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO document_types (tenant_id, id, name, name_normalized, fields, created_by, updated_by)
                    VALUES (@tenant, @id, @name, lower(@name), @fields::jsonb, @user, @user)
                    """, new { tenant = me.TenantId, id, name, fields = FieldDefinitions.Serialize(fields), user = me.UserId }, tx, cancellationToken: ct));
                var type = (await DocumentTypes.GetAsync(c, tx, me.TenantId, id, ct))!;
                await audit.RecordAsync(c, tx, "document_type.created", "document_type", id, DocumentTypeRules.Audited(type), ct: ct);
                return type;
            }, ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw DocumentTypeRules.NameTaken(name);
        }
    }
}

internal sealed class ListDocumentTypesHandler(Db db) : IHandler<ListDocumentTypes, IReadOnlyList<DocumentType>>
{
    public Task<IReadOnlyList<DocumentType>> HandleAsync(ListDocumentTypes query, CurrentUser me, CancellationToken ct) =>
        db.InTenantAsync(me.TenantId, (c, tx) => DocumentTypes.ListAsync(c, tx, me.TenantId, ct), ct);
}

internal sealed class GetDocumentTypeHandler(Db db) : IHandler<GetDocumentTypeQuery, DocumentType>
{
    public async Task<DocumentType> HandleAsync(GetDocumentTypeQuery query, CurrentUser me, CancellationToken ct) =>
        await db.InTenantAsync(me.TenantId, (c, tx) => DocumentTypes.GetAsync(c, tx, me.TenantId, query.Id, ct), ct) ?? throw DocumentTypeRules.NotFound();
}

/// <summary>
/// Renames a type and/or replaces its field list. A field whose kind changes while a document has a value for it is
/// refused (<c>document_type.kind_in_use</c>); a removed field's values are removed from the documents of the type; a new
/// field starts without a value on existing documents (its default applies on their next edit).
/// </summary>
internal sealed class UpdateDocumentTypeHandler(Db db, AuditTrail audit) : IHandler<UpdateDocumentType, DocumentType>
{
    public async Task<DocumentType> HandleAsync(UpdateDocumentType command, CurrentUser me, CancellationToken ct)
    {
        DocumentTypeRules.RequireAdmin(me);
        var name = command.Name is null ? null : DocumentTypeRules.CheckName(command.Name);
        var fields = command.Fields is null ? null : FieldDefinitions.Parse(command.Fields);
        try
        {
            return await db.InTenantAsync(me.TenantId, async (c, tx) =>
            {
                var before = await DocumentTypes.GetAsync(c, tx, me.TenantId, command.Id, ct, forUpdate: true) ?? throw DocumentTypeRules.NotFound();
                var p = new { tenant = me.TenantId, id = command.Id };
                string[] removed = [];
                string[] added = [];
                if (fields is not null)
                {
                    foreach (var field in fields)
                    {
                        if (before.Field(field.Key) is { } old && old.Kind != field.Kind && await InUseAsync(c, tx, p.tenant, p.id, field.Key, ct))
                        {
                            throw new ApiProblem(StatusCodes.Status409Conflict, "document_type.kind_in_use",
                                $"The field '{field.Key}' has values on documents: its kind cannot change from {old.KindName} to {field.KindName}.",
                                "Add a new field with the new kind instead, or clear the values first.");
                        }
                    }
                    removed = [.. before.Fields.Select(f => f.Key).Except(fields.Select(f => f.Key), StringComparer.Ordinal)];
                    added = [.. fields.Select(f => f.Key).Except(before.Fields.Select(f => f.Key), StringComparer.Ordinal)];
                }
                await c.ExecuteAsync(new CommandDefinition("""
                    UPDATE document_types SET name = coalesce(@name, name), name_normalized = lower(coalesce(@name, name)),
                      fields = coalesce(@fields::jsonb, fields), revision = revision + 1, updated_at = now(), updated_by = @user
                    WHERE tenant_id = @tenant AND id = @id
                    """, new { p.tenant, p.id, name, fields = fields is null ? null : FieldDefinitions.Serialize(fields), user = me.UserId }, tx, cancellationToken: ct));
                if (removed.Length > 0)
                {
                    // The trigger rewrites those documents' rows from the new definitions.
                    await c.ExecuteAsync(new CommandDefinition("""
                        UPDATE documents SET fields = fields - @removed WHERE tenant_id = @tenant AND type_id = @id AND fields ?| @removed;
                        DELETE FROM document_field_values WHERE tenant_id = @tenant AND type_id = @id AND key = ANY (@removed);
                        """, new { p.tenant, p.id, removed }, tx, commandTimeout: 0, cancellationToken: ct));
                }
                if (added.Length > 0)
                {
                    // "No value yet" rows, so a sort by the new field lists these documents (last) too (unless the rewrite above made them).
                    await c.ExecuteAsync(new CommandDefinition("""
                        INSERT INTO document_field_values (tenant_id, document_id, type_id, key)
                        SELECT d.tenant_id, d.id, d.type_id, k FROM documents d, unnest(@added) k WHERE d.tenant_id = @tenant AND d.type_id = @id
                          AND NOT EXISTS (SELECT 1 FROM document_field_values v WHERE v.tenant_id = d.tenant_id AND v.document_id = d.id AND v.key = k)
                        """, new { p.tenant, p.id, added }, tx, commandTimeout: 0, cancellationToken: ct));
                }
                var after = (await DocumentTypes.GetAsync(c, tx, me.TenantId, command.Id, ct))!;
                await audit.RecordAsync(c, tx, "document_type.updated", "document_type", command.Id,
                    new { before = DocumentTypeRules.Audited(before), after = DocumentTypeRules.Audited(after) }, ct: ct);
                return after;
            }, ct);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw DocumentTypeRules.NameTaken(name ?? "");
        }
    }

    private static Task<bool> InUseAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, string key, CancellationToken ct) =>
        c.ExecuteScalarAsync<bool>(new CommandDefinition("""
            SELECT EXISTS (SELECT 1 FROM document_field_values WHERE tenant_id = @tenant AND type_id = @id AND key = @key
                           AND (value_text IS NOT NULL OR value_number IS NOT NULL OR value_date IS NOT NULL))
            """, new { tenant, id, key }, tx, cancellationToken: ct));
}

/// <summary>
/// Deletes a type no document uses (trash included: a restored document must find its type); otherwise 409
/// <c>document_type.in_use</c> with the count, so an admin can retype those documents first (bulk <c>setType</c>).
/// </summary>
internal sealed class DeleteDocumentTypeHandler(Db db, AuditTrail audit) : IHandler<DeleteDocumentType, bool>
{
    public async Task<bool> HandleAsync(DeleteDocumentType command, CurrentUser me, CancellationToken ct)
    {
        DocumentTypeRules.RequireAdmin(me);
        return await db.InTenantAsync(me.TenantId, async (c, tx) =>
        {
            var type = await DocumentTypes.GetAsync(c, tx, me.TenantId, command.Id, ct, forUpdate: true) ?? throw DocumentTypeRules.NotFound();
            var used = await c.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT count(*) FROM documents WHERE tenant_id = @tenant AND type_id = @id", new { tenant = me.TenantId, id = command.Id }, tx, cancellationToken: ct));
            if (used > 0)
            {
                throw new ApiProblem(StatusCodes.Status409Conflict, "document_type.in_use",
                    $"{used} document(s) have the type '{type.Name}': change their type first.")
                { Extensions = new Dictionary<string, object?> { ["documents"] = used } };
            }
            await c.ExecuteAsync(new CommandDefinition("DELETE FROM document_types WHERE tenant_id = @tenant AND id = @id",
                new { tenant = me.TenantId, id = command.Id }, tx, cancellationToken: ct));
            await audit.RecordAsync(c, tx, "document_type.deleted", "document_type", command.Id, DocumentTypeRules.Audited(type), ct: ct);
            return true;
        }, ct);
    }
}
