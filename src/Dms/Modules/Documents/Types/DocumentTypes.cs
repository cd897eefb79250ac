using Dapper;
using Npgsql;

namespace Dms.Modules.Documents.Types;

/// <summary>A document type as the API shows it (<c>fields</c> in the order the admin gave them).</summary>
internal sealed record DocumentType(Guid Id, string Name, IReadOnlyList<FieldDefinition> Fields, int Revision, DateTime CreatedAt, DateTime UpdatedAt)
{
    public FieldDefinition? Field(string key) => Fields.FirstOrDefault(f => string.Equals(f.Key, key, StringComparison.Ordinal));
}

/// <summary>Reads of <c>document_types</c>, in the caller's transaction.</summary>
internal static class DocumentTypes
{
    private const string Select = "SELECT id, name, fields::text AS fields, revision, created_at, updated_at FROM document_types";

    public static async Task<DocumentType?> GetAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, CancellationToken ct, bool forUpdate = false) =>
        (await c.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"{Select} WHERE tenant_id = @tenant AND id = @id{(forUpdate ? " FOR UPDATE" : "")}", new { tenant, id }, tx, cancellationToken: ct)))?.ToType();

    public static async Task<IReadOnlyList<DocumentType>> ListAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, CancellationToken ct) =>
        (await c.QueryAsync<Row>(new CommandDefinition($"{Select} WHERE tenant_id = @tenant ORDER BY name_normalized, id", new { tenant }, tx, cancellationToken: ct)))
        .Select(r => r.ToType()).ToList();

    private sealed class Row
    {
        public Guid Id { get; init; }
        public string Name { get; init; } = "";
        public string Fields { get; init; } = "[]";
        public int Revision { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public DocumentType ToType() => new(Id, Name, FieldDefinitions.Deserialize(Fields), Revision, CreatedAt, UpdatedAt);
    }
}
