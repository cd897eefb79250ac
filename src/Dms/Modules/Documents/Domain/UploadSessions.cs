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
    public Guid? ClaimId { get; init; }
}

internal static class UploadSessions
{
    public const string Columns = """
        id, created_by, kind, status, file_name, declared_size, declared_sha256, staging_key, final_key, document_id, version_id,
        multipart_upload_id, part_size, part_count, failure_code, created_at, expires_at, claim_id
        """;

    /// <summary>A completion verifies the bytes outside transactions; the claim's lease bounds how long a dead node can hold it.</summary>
    public static readonly TimeSpan ClaimLease = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Marks a session finished; the conditional update makes the first finisher the only one. With
    /// <paramref name="claimId"/> only the holder of that verification claim can finish it; without, only a Pending session finishes.
    /// </summary>
    public static Task<int> FinishAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, string status, string? failureCode, bool cleaned, CancellationToken ct,
        Guid? claimId = null) =>
        c.ExecuteAsync(new CommandDefinition("""
            UPDATE upload_sessions
            SET status = @status, failure_code = @failureCode, finished_at = now(), cleaned_at = CASE WHEN @cleaned THEN now() END,
                claim_id = NULL, claimed_until = NULL
            WHERE tenant_id = @tenant AND id = @id
              AND CASE WHEN @claimId::uuid IS NULL THEN status = 'Pending' ELSE status = 'Verifying' AND claim_id = @claimId END
            """, new { tenant, id, status, failureCode, cleaned, claimId }, tx, cancellationToken: ct));

    /// <summary>Pending → Verifying under a new claim, with a lease; 0 when the session is not Pending (any more).</summary>
    public static Task<int> ClaimAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, Guid claimId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            UPDATE upload_sessions SET status = 'Verifying', claim_id = @claimId, claimed_until = now() + @lease
            WHERE tenant_id = @tenant AND id = @id AND status = 'Pending'
            """, new { tenant, id, claimId, lease = ClaimLease }, tx, cancellationToken: ct));

    /// <summary>Gives a claim back (the verification stopped without a verdict): the session is Pending again and can be completed.</summary>
    public static Task<int> ReleaseAsync(NpgsqlConnection c, NpgsqlTransaction tx, Guid tenant, Guid id, Guid claimId, CancellationToken ct) =>
        c.ExecuteAsync(new CommandDefinition("""
            UPDATE upload_sessions SET status = 'Pending', claim_id = NULL, claimed_until = NULL
            WHERE tenant_id = @tenant AND id = @id AND status = 'Verifying' AND claim_id = @claimId
            """, new { tenant, id, claimId }, tx, cancellationToken: ct));
}
