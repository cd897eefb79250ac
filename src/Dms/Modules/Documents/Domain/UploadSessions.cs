using Dapper;
using Npgsql;

namespace Dms.Modules.Documents.Domain;

/// <summary>One row of <c>upload_sessions</c>.</summary>
internal sealed class UploadSessionRow
{
    public Guid Id { get; init; }
    public Guid CreatedBy { get; init; }
    public string Kind { get; init; } = "";
    public string Status { get; init; } = "";
    public string FileName { get; init; } = "";
    public long? DeclaredSize { get; init; }
    public string? DeclaredSha256 { get; init; }
    public string StagingKey { get; init; } = "";
    public string FinalKey { get; init; } = "";
    public Guid DocumentId { get; init; }
    public Guid VersionId { get; init; }
    public string? MultipartUploadId { get; init; }
    public long? PartSize { get; init; }
    public int? PartCount { get; init; }
    public string? FailureCode { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime ExpiresAt { get; init; }
}

internal static class UploadSessions
{
    public const string Columns = """
        id, created_by, kind, status, file_name, declared_size, declared_sha256, staging_key, final_key, document_id, version_id,
        multipart_upload_id, part_size, part_count, failure_code, created_at, expires_at
        """;

    /// <summary>Marks a session finished; the conditional update makes the first finisher the only one.</summary>
    public static Task<int> FinishAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, string status, string? failureCode, bool cleaned, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            UPDATE upload_sessions
            SET status = @status, failure_code = @failureCode, finished_at = now(), cleaned_at = CASE WHEN @cleaned THEN now() END
            WHERE tenant_id = @tenant AND id = @id AND status = 'Pending'
            """, new { tenant, id, status, failureCode, cleaned }, tx, cancellationToken: ct));
}
